"""The extractive answerer's choice of sentences: relevance first, one passage's
contiguous sentences preferred, a cliff, no padding, and a refusal when nothing is
relevant (``domain.extract.select`` and ``adapters.llm.extractive``)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ragd.adapters.embedder.hashing import HashingEmbedder
from ragd.adapters.llm import extractive
from ragd.adapters.llm.extractive import ExtractiveLLM
from ragd.domain.answer import NO_ANSWER
from ragd.domain.extract import Scored, SelectionPolicy, select
from ragd.domain.text import citation_numbers
from ragd.ports.llm import GenerationRequest

POLICY = SelectionPolicy(floor=0.3, cliff=0.8, neighbour=0.5, other=0.95, max_sentences=3)


def test_nothing_above_the_floor_is_a_refusal() -> None:
    assert select([Scored(0, 0, 0.2), Scored(1, 0, 0.1)], POLICY) == []
    assert select([], POLICY) == []


def test_neighbours_of_the_best_sentence_join_when_relevant_enough() -> None:
    cands = [Scored(0, 0, 0.1), Scored(0, 1, 0.9), Scored(0, 2, 0.5), Scored(0, 3, 0.44)]
    assert select(cands, POLICY) == [1, 2]  # 0.44 < 0.5 * 0.9, and 0.1 is not adjacent-worthy


def test_another_passage_needs_a_sentence_nearly_as_good_as_the_best() -> None:
    cands = [Scored(0, 0, 0.9), Scored(1, 0, 0.85), Scored(2, 0, 0.88)]
    assert select(cands, POLICY) == [0, 2]  # 0.88 >= 0.95 * 0.9, 0.85 is not
    assert select(cands, SelectionPolicy(other=1.01)) == [0]


def test_it_stops_at_the_cliff_and_never_pads_to_a_count() -> None:
    cands = [Scored(0, 0, 0.9), Scored(1, 0, 0.6), Scored(1, 1, 0.59), Scored(2, 0, 0.58)]
    assert select(cands, POLICY) == [0]
    many = [Scored(0, i, 1.0) for i in range(10)]
    assert len(select(many, POLICY)) == POLICY.max_sentences


HONEY = (
    "Honey is made by bees from the nectar of flowers. The bees store the nectar in wax "
    "combs and fan it with their wings until most of the water has evaporated."
)
PRESS = (
    "Gutenberg printed his Bible around 1455. About 180 copies were made, and 49 are "
    "known to survive."
)


def test_the_answer_keeps_to_the_passage_that_answers() -> None:
    request = GenerationRequest([], "how is honey made?", [HONEY, PRESS])
    text = ExtractiveLLM().complete(request).text
    assert "nectar of flowers" in text and "[1]" in text
    assert "copies" not in text and "[2]" not in text


def test_a_question_nothing_answers_is_declined() -> None:
    request = GenerationRequest([], "what is the boiling point of tungsten?", [HONEY, PRESS])
    assert ExtractiveLLM().complete(request).text == NO_ANSWER


def test_reference_numbers_in_a_quoted_sentence_do_not_become_citations() -> None:
    passage = "Bees make honey from nectar [3, 4]. Wax is made by young bees [12]."
    text = ExtractiveLLM().complete(GenerationRequest([], "bees honey nectar", [passage])).text
    assert text.startswith("Bees make honey from nectar (3, 4).")  # quoted, not dropped
    assert "[3" not in text and "[12]" not in text and text.endswith("[1]")
    assert set(citation_numbers(text)) == {1}


def test_the_word_budget_stops_neighbours_but_never_the_best_sentence() -> None:
    budget = SelectionPolicy(neighbour=0.0, max_sentences=5, max_words=30)
    cands = [Scored(0, 0, 0.5, 12), Scored(0, 1, 0.9, 15), Scored(0, 2, 0.6, 20)]
    assert select(cands, budget) == [0, 1]  # 15 + 12 fits, 15 + 20 would not
    long_best = [Scored(0, 0, 0.5, 5), Scored(0, 1, 0.9, 80)]
    assert select(long_best, budget) == [1]  # over budget alone: still the answer
    assert select(long_best, SelectionPolicy(neighbour=0.0, max_words=0)) == [0, 1]  # no cap


def test_the_more_relevant_neighbour_joins_first() -> None:
    one_more = SelectionPolicy(neighbour=0.1, max_sentences=2)
    cands = [Scored(0, 0, 0.3), Scored(0, 1, 0.9), Scored(0, 2, 0.6)]
    assert select(cands, one_more) == [1, 2]
    cands = [Scored(0, 0, 0.6), Scored(0, 1, 0.9), Scored(0, 2, 0.3)]
    assert select(cands, one_more) == [0, 1]


def test_a_gap_ends_the_contiguous_run() -> None:
    # Sentence 2 is missing (too short to quote): 3 is not a neighbour of 1.
    cands = [Scored(0, 1, 0.9), Scored(0, 3, 0.8)]
    assert select(cands, SelectionPolicy(neighbour=0.0, cliff=0.95)) == [0]


class CountingEmbedder:
    """The hashing embedder (a real adapter), counting what it is asked to embed."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.spec = self.inner.spec
        self.documents: list[list[str]] = []
        self.queries: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.documents.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        self.queries.append(text)
        return np.asarray(self.inner.embed_query(text))


def test_only_the_lexically_close_sentences_are_embedded() -> None:
    filler = " ".join(f"Sentence number {i} is about weather and rain." for i in range(30))
    long = "Bees make honey " + "from the nectar they gather " * 25 + "in summer."  # 726 chars
    passage = f"Honey is made by bees from nectar. {long} Bees store nectar in combs. {filler}"
    spy = CountingEmbedder()
    llm = ExtractiveLLM()
    llm.use_embedder(spy)  # type: ignore[arg-type]
    text = llm.complete(GenerationRequest([], "how do bees make honey?", [passage, filler])).text
    assert text.startswith("Honey is made by bees from nectar.")
    [batch] = spy.documents
    assert 1 <= len(batch) <= extractive.EMBED_TOP
    assert all("weather" not in t for t in batch)  # no question word: no vector
    # The long sentence is embedded from its head only (the model's cost grows with it).
    assert any(long.startswith(t) and len(t) < len(long) for t in batch)
    # Asked again: every vector comes from the cache, the model is not run.
    llm.complete(GenerationRequest([], "how do bees make honey?", [passage, filler]))
    assert len(spy.documents) == 1 and len(spy.queries) == 1


def test_nothing_lexical_embeds_nothing_and_declines() -> None:
    spy = CountingEmbedder()
    llm = ExtractiveLLM()
    llm.use_embedder(spy)  # type: ignore[arg-type]
    request = GenerationRequest([], "tungsten boiling point?", [HONEY, PRESS])
    assert llm.complete(request).text == NO_ANSWER
    assert spy.documents == []


def _bounded(request: GenerationRequest) -> tuple[str, float, float]:
    llm = ExtractiveLLM()
    llm.use_embedder(CountingEmbedder())  # type: ignore[arg-type]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        text = llm.complete(request).text
        seconds = time.perf_counter() - started
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return text, seconds, peak_mb


def test_a_passage_of_ten_thousand_sentences_is_read_in_bounded_time_and_memory() -> None:
    huge = " ".join(f"Bees visit flower number {i} for nectar today." for i in range(10_000))
    text, seconds, peak_mb = _bounded(GenerationRequest([], "why do bees visit flowers?", [huge]))
    assert text != NO_ANSWER and text.endswith("[1]")
    assert len(text.split()) <= SelectionPolicy().max_words + 20
    # Only the first SCAN_CHARS are split (~420 sentences here): 0.2 s and 0.5 MB locally;
    # reading all 10,000 took 2 s and 12 MB.
    assert seconds < 3, seconds
    assert peak_mb < 6, peak_mb


def test_a_one_megabyte_sentence_is_read_in_bounded_time_and_memory() -> None:
    sentence = "bees " + "nectar " * 150_000  # ~1 MB, no full stop
    question = "bees nectar " * 100_000  # an oversized question too
    text, seconds, peak_mb = _bounded(GenerationRequest([], question, [sentence, HONEY]))
    # 0.4 s and 0.2 MB locally; reading all of the passage and the question: 6 s, 28 MB.
    assert seconds < 3, seconds
    assert peak_mb < 6, peak_mb
    assert text == NO_ANSWER or len(text) <= extractive.MAX_CHARS + 10
