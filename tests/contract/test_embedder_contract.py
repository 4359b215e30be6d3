"""The Embedder contract, run against every embedder adapter.

To add an adapter, add an entry to ``ADAPTERS``: given the fake servers, an
``AdapterCase`` that says how to build the adapter and how to tell whether it has loaded
its model (or opened its connection) yet, since laziness is part of the contract. Checks
that only make sense for one adapter (its tokenizer pin, its truncation length) are at
the bottom.

* ``onnx-minilm``: the real model (slow: the case is marked, so every test of it is).
* ``openai``, ``openai-compatible``, ``jina``, ``ollama``: the remote adapters, built from
  Settings as the container builds them, against ``tests.fakes.embeddings_server`` (the
  providers' wire formats, lexical fake vectors). Their ``max_tokens`` is set below the
  fake's input limit so that the long-text check exercises the adapter's truncation.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragd.adapters.embedder import onnx_minilm
from ragd.adapters.embedder.onnx_minilm import OnnxMiniLMEmbedder
from ragd.config import Settings
from ragd.errors import ConfigError
from ragd.ports.embedder import Embedder
from ragd.services.container import build_embedder
from tests.fakes.embeddings_server import FakeEmbeddingsServer


@dataclass(frozen=True)
class AdapterCase:
    build: Callable[[], Embedder]
    is_loaded: Callable[[Embedder], bool]


@dataclass(frozen=True)
class Servers:
    openai: FakeEmbeddingsServer
    """OpenAI's flavor of ``/v1/embeddings``, and Ollama's ``/api/embed``."""
    jina: FakeEmbeddingsServer


REMOTE_MAX_TOKENS = 400
"""Below the fakes' input limit (512 words), so the adapters must cut long texts."""


def remote_settings(model: str, base_url: str, dimension: int, **more: Any) -> Settings:
    """Settings with every remote-embedder field explicit (the environment cannot leak in)."""
    fields: dict[str, Any] = {
        "embedding_model": model,
        "embedding_base_url": base_url,
        "embedding_api_key": "sk-embed-contract",
        "openai_api_key": None,
        "jina_api_key": None,
        "vector_size": dimension,
        "embedding_batch_size": 4,
        "embedding_max_tokens": REMOTE_MAX_TOKENS,
        "embedding_timeout_seconds": 10.0,
        **more,
    }
    return Settings(**fields)


def _remote(
    model: str, url: Callable[[Servers], str], dimension: int
) -> Callable[..., AdapterCase]:
    def case(servers: Servers) -> AdapterCase:
        return AdapterCase(
            build=lambda: build_embedder(remote_settings(model, url(servers), dimension)),
            is_loaded=lambda e: bool(getattr(e, "is_connected", True)),
        )

    return case


ADAPTERS: dict[str, Callable[[Servers], AdapterCase]] = {
    "onnx-minilm": lambda _servers: AdapterCase(
        build=OnnxMiniLMEmbedder,
        is_loaded=lambda e: getattr(e, "_session", None) is not None,
    ),
    "openai": _remote("openai:text-embedding-3-small", lambda s: s.openai.base_url, 768),
    "openai-compatible": _remote(
        "openai-compatible:nomic-embed-text", lambda s: s.openai.base_url, 768
    ),
    "jina": _remote("jina:jina-embeddings-v3", lambda s: s.jina.base_url, 1024),
    "ollama": _remote("ollama:nomic-embed-text", lambda s: s.openai.root_url, 768),
}
SLOW = {"onnx-minilm"}

FOOD = "A man is eating food."
BREAD = "A man is eating a piece of bread."
BABY = "The girl is carrying a baby."

# Lengths deliberately out of order so that sorting by length inside a call reorders them.
MIXED = [
    "Short.",
    " ".join(["A much longer passage about protein folding and chaperones."] * 6),
    "",
    "Medium length sentence on mitochondrial membranes and apoptosis.",
    "x",
    " ".join(["Gene expression varies across tissues."] * 3),
    FOOD,
    BABY,
    " ".join(["Long text again, with commas, numbers 1 2 3, and words."] * 4),
    "Another short one.",
    BREAD,
]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with (
        FakeEmbeddingsServer(flavor="openai", api_key="sk-embed-contract") as openai,
        FakeEmbeddingsServer(flavor="jina", api_key="sk-embed-contract") as jina,
    ):
        yield Servers(openai, jina)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in sorted(ADAPTERS)
    ],
)
def case(request: pytest.FixtureRequest, servers: Servers) -> AdapterCase:
    return ADAPTERS[request.param](servers)


@pytest.fixture(scope="module")
def embedder(case: AdapterCase) -> Iterator[Embedder]:
    """One loaded model per adapter for the whole module (loading is the slow part)."""
    adapter = case.build()
    yield adapter
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_shape_dtype_and_unit_norm(embedder: Embedder) -> None:
    vectors = embedder.embed_documents(MIXED)
    assert vectors.shape == (len(MIXED), embedder.spec.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query(FOOD)
    assert query.shape == (embedder.spec.dimension,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_spec_describes_the_output(embedder: Embedder) -> None:
    assert embedder.spec.model
    assert embedder.spec.dimension == embedder.embed_query("hello").shape[0]
    assert embedder.max_tokens > 0


def test_deterministic(embedder: Embedder) -> None:
    first = embedder.embed_documents(MIXED)
    second = embedder.embed_documents(MIXED)
    np.testing.assert_array_equal(first, second)


def test_batch_equals_one_by_one_and_keeps_order(embedder: Embedder) -> None:
    """Rows come back in the caller's order although batches are sorted by length.

    Measured for onnx-minilm: bit-identical (the int8 export computes in float32 and
    padding is masked), so the tight 1e-5 tolerance only absorbs float summation order
    should a future onnxruntime pick different kernels for different batch shapes.
    One by one means ``embed_documents([text])``: asymmetric models (Jina's tasks,
    nomic's prefixes) embed a query differently from a document, on purpose.
    """
    batched = embedder.embed_documents(MIXED)
    single = np.stack([embedder.embed_documents([text])[0] for text in MIXED])
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    # order: each row is closest to its own text's vector
    similarity = batched @ single.T
    assert list(similarity.argmax(axis=1)) == list(range(len(MIXED)))


def test_semantic_sanity(embedder: Embedder) -> None:
    food, bread, baby = embedder.embed_documents([FOOD, BREAD, BABY])
    related = _cos(food, bread)
    unrelated = _cos(food, baby)
    assert related > 0.6, related
    assert unrelated < 0.3, unrelated
    assert related - unrelated > 0.4


def test_empty_list_and_empty_string(embedder: Embedder) -> None:
    empty = embedder.embed_documents([])
    assert empty.shape == (0, embedder.spec.dimension)
    assert empty.dtype == np.float32
    vector = embedder.embed_query("")
    assert vector.shape == (embedder.spec.dimension,)
    assert np.isfinite(vector).all()


def test_long_text_is_embedded(embedder: Embedder) -> None:
    long_text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(200))
    assert embedder.tokenizer.count(long_text) > embedder.max_tokens
    vector = embedder.embed_query(long_text)
    assert vector.shape == (embedder.spec.dimension,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_tokenizer_spans_index_the_text(embedder: Embedder) -> None:
    text = "Café au lait, e.g. 3.5 cups; naïve résumé."
    spans = embedder.tokenizer.token_spans(text)
    assert len(spans) == embedder.tokenizer.count(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(a1 <= a2 for (a1, _), (a2, _) in itertools.pairwise(spans))
    assert embedder.tokenizer.token_spans("") == []
    assert embedder.tokenizer.count("") == 0


def test_lazy_loading(case: AdapterCase) -> None:
    fresh = case.build()
    assert not case.is_loaded(fresh), "building an embedder must not load the model"
    _ = fresh.spec, fresh.max_tokens
    fresh.tokenizer.count("tokenizer only")
    assert not case.is_loaded(fresh), "the tokenizer alone must not load the model"
    fresh.embed_query("now load")
    assert case.is_loaded(fresh)


def test_concurrent_first_use_loads_once_and_agrees(case: AdapterCase) -> None:
    fresh = case.build()
    results: list[Any] = [None] * 4
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = fresh.embed_query(FOOD)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


# --- onnx-minilm only ---------------------------------------------------------------


def test_minilm_spec_and_limits() -> None:
    embedder = OnnxMiniLMEmbedder()
    assert embedder.spec.model == "all-MiniLM-L6-v2"
    assert embedder.spec.dimension == 384
    assert embedder.max_tokens == 256


@pytest.mark.slow
def test_minilm_truncates_at_max_tokens_including_cls_sep(embedder: Embedder) -> None:
    """Everything after the first ``max_tokens - 2`` text tokens is ignored."""
    if not isinstance(embedder, OnnxMiniLMEmbedder):
        pytest.skip("onnx-minilm only")
    text = " ".join(f"word{i % 50} topic{i % 13}" for i in range(400))
    spans = embedder.tokenizer.token_spans(text)
    prefix = text[: spans[embedder.max_tokens - 3][1]]
    assert embedder.tokenizer.count(prefix) == embedder.max_tokens - 2
    np.testing.assert_allclose(
        embedder.embed_query(text), embedder.embed_query(prefix), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("tamper", ["append", "edit"])
def test_minilm_rejects_a_tampered_tokenizer(tmp_path: Path, tamper: str) -> None:
    original = Path(onnx_minilm.__file__).parent / "assets" / onnx_minilm.TOKENIZER_ASSET
    copy = tmp_path / "tokenizer.json"
    shutil.copyfile(original, copy)
    data = copy.read_bytes()
    copy.write_bytes(
        data + b"\n" if tamper == "append" else data.replace(b'"[UNK]"', b'"[UNX]"', 1)
    )
    embedder = OnnxMiniLMEmbedder(tokenizer_path=copy)
    with pytest.raises(ConfigError, match="sha256"):
        embedder.embed_query("anything")
    with pytest.raises(ConfigError, match="sha256"):
        _ = embedder.tokenizer
    # An untouched copy is accepted.
    shutil.copyfile(original, copy)
    assert OnnxMiniLMEmbedder(tokenizer_path=copy).tokenizer.count("hello world") == 2


def test_minilm_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        _ = OnnxMiniLMEmbedder(tokenizer_path=tmp_path / "absent.json").tokenizer
    with pytest.raises(ConfigError, match="pip install"):
        OnnxMiniLMEmbedder(model_path=tmp_path / "absent.onnx").embed_query("x")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ConfigError):
        OnnxMiniLMEmbedder(model_path=broken).embed_query("x")


def test_minilm_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        OnnxMiniLMEmbedder(batch_size=0)
    with pytest.raises(ConfigError):
        OnnxMiniLMEmbedder(threads=0)


def test_minilm_build_from_settings() -> None:
    embedder = onnx_minilm.build(Settings(embedding_batch_size=4, embedding_threads=1).embedding)
    assert (embedder.batch_size, embedder.threads) == (4, 1)
    assert embedder._session is None
    with pytest.raises(ConfigError, match="VECTOR_SIZE"):
        onnx_minilm.build(Settings(vector_size=768).embedding)
    with pytest.raises(ConfigError, match="EMBEDDING_MODEL"):
        onnx_minilm.build(Settings(embedding_model="bge-small-en-v1.5").embedding)
    assert (
        onnx_minilm.build(
            Settings(embedding_model="sentence-transformers/all-MiniLM-L6-v2").embedding
        ).spec.dimension
        == 384
    )


def test_a_query_vector_is_the_callers_own(embedder: Embedder) -> None:
    """Changing a returned query vector changes nothing the next caller gets (the MiniLM
    embedder keeps recent questions' vectors: one /query embeds its question twice)."""
    first = embedder.embed_query("where do honeybees dance")
    kept = np.array(first, copy=True)
    first[:] = 0.0
    again = embedder.embed_query("where do honeybees dance")
    assert np.allclose(again, kept, atol=1e-6)


def test_minilm_keeps_a_bounded_number_of_recent_queries() -> None:
    from ragd.adapters.embedder.onnx_minilm import RECENT_QUERIES

    embedder = OnnxMiniLMEmbedder()
    vectors = {
        f"question {i}": embedder.embed_query(f"question {i}") for i in range(RECENT_QUERIES + 5)
    }
    assert len(embedder._recent) == RECENT_QUERIES
    assert (
        "question 0" not in embedder._recent
        and f"question {RECENT_QUERIES + 4}" in embedder._recent
    )
    for text, vector in list(vectors.items())[-3:]:  # a kept one equals a fresh computation
        assert np.allclose(
            embedder.embed_query(text), embedder.embed_documents([text])[0], atol=1e-6
        )
        assert np.allclose(vector, embedder.embed_documents([text])[0], atol=1e-6)


def test_concurrent_questions_each_get_their_own_vector(embedder: Embedder) -> None:
    """Questions asked at once from many threads get the vectors they get alone."""
    from concurrent.futures import ThreadPoolExecutor

    questions = [f"{text} (asked {i})" for i, text in enumerate(MIXED * 4) if text.strip()]
    alone = [np.array(embedder.embed_query(q)) for q in questions]
    if isinstance(embedder, OnnxMiniLMEmbedder):
        embedder._recent.clear()  # computed again, not read back
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(embedder.embed_query, questions))
    for got, want in zip(together, alone, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
