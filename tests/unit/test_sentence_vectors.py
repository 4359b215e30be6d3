"""The extractive answerer's sentence-vector cache (``adapters.llm.sentence_vectors``):
vectors equal the embedder's, reused across calls, bounded, one sorted batch a call."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from ragd.adapters.embedder.hashing import HashingEmbedder
from ragd.adapters.llm.sentence_vectors import SentenceVectors


class Spy:
    """The hashing embedder (a real adapter), recording each call's texts."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.spec = self.inner.spec
        self.calls: list[list[str]] = []
        self.queries = 0

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        self.queries += 1
        return np.asarray(self.inner.embed_query(text))


def test_vectors_are_the_embedders_in_the_callers_order() -> None:
    spy = Spy()
    texts = ["a much longer sentence about bees and honey", "short one", "medium about bees"]
    got = SentenceVectors(spy).documents(texts)  # type: ignore[arg-type]
    assert np.allclose(got, spy.inner.embed_documents(texts), atol=1e-6)
    # One call, shortest first (a batch pads to similar lengths whatever the embedder).
    assert spy.calls == [sorted(texts, key=len)]


def test_a_sentence_seen_before_is_not_embedded_again() -> None:
    spy = Spy()
    vectors = SentenceVectors(spy)  # type: ignore[arg-type]
    vectors.documents(["one sentence", "two sentence"])
    again = vectors.documents(["two sentence", "three sentence", "three sentence"])
    assert spy.calls == [["one sentence", "two sentence"], ["three sentence"]]
    assert np.allclose(again[1], again[2])
    vectors.query("a question")
    vectors.query("a question")
    assert spy.queries == 1
    assert vectors.hits == 2 and vectors.misses == 5  # a repeat inside one call: one embedding


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    spy = Spy()
    vectors = SentenceVectors(spy, capacity=3)  # type: ignore[arg-type]
    vectors.documents(["a", "b", "c"])
    vectors.documents(["a"])  # now "b" is the oldest
    vectors.documents(["d"])
    assert len(vectors) == 3
    spy.calls.clear()
    vectors.documents(["a", "c", "d"])
    assert spy.calls == []
    vectors.documents(["b"])
    assert spy.calls == [["b"]]
    many = SentenceVectors(spy, capacity=100)  # type: ignore[arg-type]
    many.documents([f"sentence {i}" for i in range(1_000)])
    assert len(many) == 100


def test_capacity_zero_caches_nothing_and_a_negative_one_is_refused() -> None:
    spy = Spy()
    vectors = SentenceVectors(spy, capacity=0)  # type: ignore[arg-type]
    vectors.documents(["x"])
    vectors.documents(["x"])
    assert len(spy.calls) == 2 and len(vectors) == 0
    with pytest.raises(ValueError, match="capacity"):
        SentenceVectors(spy, capacity=-1)  # type: ignore[arg-type]


def test_no_texts_gives_an_empty_matrix_without_a_call() -> None:
    spy = Spy()
    assert SentenceVectors(spy).documents([]).shape == (0, spy.spec.dimension)  # type: ignore[arg-type]
    assert spy.calls == []


def test_threads_share_the_cache_safely() -> None:
    spy = Spy()
    vectors = SentenceVectors(spy, capacity=50)  # type: ignore[arg-type]
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(200):
                texts = [f"sentence {(seed * 7 + i + j) % 80}" for j in range(4)]
                got = vectors.documents(texts)
                assert np.allclose(got, spy.inner.embed_documents(texts), atol=1e-6)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(vectors) <= 50
