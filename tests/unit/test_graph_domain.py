"""The knowledge graph's pure parts: name keys, the offline extractor, the LLM answer
parser, the walk's scoring and the hybrid+graph fusion."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from ragd.domain.entities import MAX_CHUNK_CHARS, extract_entities, question_names
from ragd.domain.graph import (
    MAX_ENTITIES_PER_CHUNK,
    MAX_RELATIONS_PER_CHUNK,
    EntityMatch,
    ExtractedEntity,
    ExtractedRelation,
    Extraction,
    GraphChunk,
    Neighbourhood,
    extraction_from_json,
    extraction_to_json,
    normalise_kind,
    normalise_name,
)
from ragd.domain.graph_walk import Edge, specificity, walk
from ragd.domain.models import ScoredChunk
from ragd.services.graph_extract import parse_answer
from ragd.services.graph_search import fuse_graph, relations_for


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("The Hallbrook-Group's", "hallbrook group"),
        ("  IL-6 ", "il 6"),
        ("IL 6", "il 6"),
        ("ＴＮＦ", "tnf"),  # full-width letters: NFKC
        ("the", "the"),  # an article alone is a name, not a prefix
        ("--", ""),
        ("“Aspirin”", "aspirin"),
    ],
)
def test_normalise_name(name: str, key: str) -> None:
    assert normalise_name(name) == key


def test_normalise_kind() -> None:
    assert normalise_kind("is tested by") == "is_tested_by"
    assert normalise_kind("!!!") == "related_to"
    assert len(normalise_kind("x" * 500)) <= 48


def _names(e: Extraction) -> list[str]:
    return [x.name for x in e.entities]


def test_rules_find_names_acronyms_chemicals_and_aliases() -> None:
    e = extract_entities(
        "In 2019, the Hallbrook Research Group studied tumour necrosis factor (TNF) and "
        "IL-6 in SARS-CoV-2 patients. Patients received 2-deoxyglucose and adalimumab. "
        "However, TNF levels fell."
    )
    assert _names(e) == [
        "Hallbrook Research Group",
        "tumour necrosis factor",
        "IL-6",
        "SARS-CoV-2",
        "2-deoxyglucose",
        "adalimumab",
    ]
    assert e.entities[1].aliases == ("TNF",)  # "TNF" later is the same entity
    pairs = {(r.source, r.target) for r in e.relations}
    assert ("Hallbrook Research Group", "IL-6") in pairs
    assert ("2-deoxyglucose", "adalimumab") in pairs
    assert not {("IL-6", "adalimumab"), ("adalimumab", "IL-6")} & pairs  # other sentences


def test_a_capitalised_word_that_only_opens_a_sentence_is_not_a_name() -> None:
    assert _names(extract_entities("Patients improved. Results varied.")) == []
    # ... unless it is capitalised inside a sentence too.
    assert _names(extract_entities("Aspirin helps. We gave Aspirin daily.")) == ["Aspirin"]


def test_rules_are_bounded_on_hostile_input() -> None:
    names = " ".join(f"Name{i} Alpha{i}" for i in range(5000))  # one endless sentence
    e = extract_entities(names * 20)  # ~1.6 MB
    assert len(e.entities) <= MAX_ENTITIES_PER_CHUNK
    assert len(e.relations) <= MAX_RELATIONS_PER_CHUNK
    tail_only = "x " * MAX_CHUNK_CHARS + "The Kestrel Institute met."
    assert extract_entities(tail_only).entities == ()  # only the first characters are read


def test_question_names_include_lower_case_word_runs_not_lone_words() -> None:
    got = question_names("which drugs did the hallbrook group test on TNF?")
    assert "hallbrook group" in got and "TNF" in got
    assert "drugs" not in got and "did" not in got  # a lone lower-case word is no name


def test_extraction_json_round_trip_and_bad_payloads() -> None:
    e = Extraction(
        (ExtractedEntity("A", "t", ("a1",)), ExtractedEntity("B")),
        (ExtractedRelation("A", "B", "k"),),
    )
    assert extraction_from_json(json.loads(json.dumps(extraction_to_json(e)))) == e
    assert extraction_from_json("nonsense") == Extraction()
    assert extraction_from_json({"e": [[1, 2]], "r": [["x"]]}) == Extraction()


def test_cleaned_merges_drops_and_bounds() -> None:
    e = Extraction(
        (ExtractedEntity("TNF"), ExtractedEntity("tnf", aliases=("tumour",)), ExtractedEntity("")),
        (
            ExtractedRelation("TNF", "TNF"),  # to itself
            ExtractedRelation("TNF", "Nobody"),  # to an entity the chunk does not name
        ),
    ).cleaned()
    assert [(x.name, x.aliases) for x in e.entities] == [("TNF", ("tumour",))]
    assert e.relations == ()


def test_parse_answer() -> None:
    text = (
        "```json\n"
        + json.dumps(
            {
                "chunks": [
                    {"id": 1, "entities": ["Aspirin", {"name": "Hallbrook", "aliases": ["HB", 3]}]},
                    {"id": 9, "entities": ["out of range"]},
                    {"id": "2", "entities": ["not an int id"]},
                    "garbage",
                    {"id": 2, "relations": [{"source": "A", "target": "B"}, {"source": 1}]},
                ]
            }
        )
        + "\n```"
    )
    found = parse_answer(text, 2)
    assert set(found) == {1, 2}
    assert [e.name for e in found[1].entities] == ["Aspirin", "Hallbrook"]
    assert found[1].entities[1].aliases == ("HB",)
    assert found[2].relations == (ExtractedRelation("A", "B", "related_to"),)
    for bad in ("not json", "[]", '{"chunks": 3}'):
        with pytest.raises(ValueError):
            parse_answer(bad, 2)


class Reads:
    """A tiny graph: s1 - e2 (rel r1 in c1), e2 - e3 (r2 in c2), s1 mentioned in c0."""

    def mentions(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        return [("s1", "c0")] if "s1" in entity_ids else []

    def edges(self, entity_ids: Sequence[str], limit: int) -> list[Edge]:
        edges = [Edge("r1", "s1", "e2", "k"), Edge("r2", "e2", "e3", "k")]
        return [e for e in edges if {e.source, e.target} & set(entity_ids)][:limit]

    def chunks_of(self, relation_ids: Sequence[str], per_relation: int) -> list[tuple[str, str]]:
        return [(r, {"r1": "c1", "r2": "c2"}[r]) for r in relation_ids]

    def names(self, entity_ids: Sequence[str]) -> dict[str, str]:
        return {i: i.upper() for i in entity_ids}

    def degrees(self, entity_ids: Sequence[str]) -> dict[str, int]:
        return {i: {"e2": 3}.get(i, 1) for i in entity_ids}  # e2 is in 3 chunks


def test_walk_scores_by_hop_and_bounds() -> None:
    seeds = [EntityMatch("s1", "s1", "S1", 1.0)]
    hood = walk(Reads(), seeds, hops=2, max_edges=5, max_chunks=10)
    # e2, in 3 chunks, weighs 1/log2(4) = 0.5: its relation's chunk c1 scores 0.5, and
    # the walk on from it to e3 (in 1 chunk) 0.5 * HOP_WEIGHT[2] = 0.25.
    assert [(c.chunk_id, c.score, c.hops) for c in hood.chunks] == [
        ("c0", 1.0, 0),
        ("c1", 0.5, 1),
        ("c2", 0.25, 2),
    ]
    assert [(r.source, r.target, r.hops) for r in hood.relations] == [
        ("S1", "E2", 1),
        ("E2", "E3", 2),
    ]
    assert len(walk(Reads(), seeds, hops=1, max_edges=5, max_chunks=10).chunks) == 2
    assert len(walk(Reads(), seeds, hops=2, max_edges=5, max_chunks=2).chunks) == 2


def test_specificity() -> None:
    assert specificity(1) == 1.0 and specificity(0) == 1.0
    assert specificity(3) == 0.5 and specificity(255) == 0.125


def test_fusion_keeps_the_hybrid_order_and_merges_what_only_the_graph_found() -> None:
    hybrid = [
        ScoredChunk("b", 0.9, 1, 1, 0.8),
        ScoredChunk("x", 0.5, 2, None, 0.4),
        ScoredChunk("y", 0.4, 3, None, 0.3),
    ]
    hood = Neighbourhood([GraphChunk("y", 2.0, 2), GraphChunk("a", 0.5, 2)])
    fused = fuse_graph(hybrid, hood, rrf_k=10, weight=1.0, limit=4)
    # y is not boosted by the graph; a (graph rank 1) enters below the first two: its
    # 1/13 ties y's, broken by chunk id.
    assert [c.chunk_id for c in fused] == ["b", "x", "a", "y"]
    assert fused[0].similarity == 0.8 and fused[2].similarity is None
    light = fuse_graph(hybrid, hood, rrf_k=10, weight=0.5, limit=4)
    assert [c.chunk_id for c in light] == ["b", "x", "y", "a"]
    heavy = fuse_graph(hybrid, hood, rrf_k=10, weight=2.0, limit=4)
    assert [c.chunk_id for c in heavy] == ["a", "b", "x", "y"]
    assert [
        c.chunk_id for c in fuse_graph(hybrid, Neighbourhood(), rrf_k=10, weight=1.0, limit=5)
    ] == ["b", "x", "y"]


def test_relations_for_keeps_only_returned_chunks() -> None:
    hood = walk(Reads(), [EntityMatch("s1", "s1", "S1", 1.0)], hops=2, max_edges=5, max_chunks=9)
    used = relations_for(hood, ["c1"])
    assert [(r.source, r.chunk_ids) for r in used] == [("S1", ("c1",))]
