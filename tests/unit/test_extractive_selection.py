"""The extractive answerer's choice of sentences: relevance first, one passage's
contiguous sentences preferred, a cliff, no padding, and a refusal when nothing is
relevant (``domain.extract.select`` and ``adapters.llm.extractive``)."""

from __future__ import annotations

from ragd.adapters.llm.extractive import ExtractiveLLM
from ragd.domain.answer import NO_ANSWER
from ragd.domain.extract import Scored, SelectionPolicy, select
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
    assert text.startswith("Bees make honey from nectar")
    assert "[3" not in text and "[12]" not in text and text.endswith("[1]")
