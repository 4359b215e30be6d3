"""The graph stage end to end on an embedded Store: the worker indexes, then builds the
graph; graph modes search it; deleting and replacing a document leave nothing of what
only it supported. With an LLM configured, the real OpenAI-compatible adapter talks to
the fake OpenAI server (tests/fakes/openai_server.py): JSON output asked for, chunks sent
in batches, results cached by chunk text, tokens priced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.graph_extract import LlmExtractor
from ragd.worker import build_worker
from tests.conftest import make_settings
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer, Reply

T = TenantId("graph-tenant")
DOC_A = "In a small trial, Aspirin was tested by the Hallbrook Research Group."
DOC_B = "Later the Hallbrook Research Group studied Protein Veltrin in mice."


def _services(tmp_path: Path, **overrides: Any) -> Services:
    settings = make_settings(tmp_path / "data", **{"graph_enabled": True, **overrides})
    migrate_database(settings)
    return build_services(settings)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    s = _services(tmp_path)
    yield s
    s.close()


def _run(svc: Services) -> None:
    build_worker(svc).run(until_idle=True)


def test_worker_builds_the_graph_and_graph_modes_find_both_documents(svc: Services) -> None:
    a = svc.ingest.submit_text(T, DOC_A, source="a.txt").document
    b = svc.ingest.submit_text(T, DOC_B, source="b.txt").document
    _run(svc)
    stats = svc.graph.stats(T)  # type: ignore[union-attr]
    assert stats.documents == 2 and stats.entities >= 3
    question = "which drug was tested by the group that studied protein veltrin?"
    graph = svc.search.search(T, question, mode="graph", k=5)
    assert {h.document_id for h in graph.hits} == {a.id, b.id}
    walked = {(r.source, r.target) for r in graph.relations}
    assert ("Hallbrook Research Group", "Protein Veltrin") in walked
    assert ("Aspirin", "Hallbrook Research Group") in walked
    shown = {h.chunk_id for h in graph.hits}
    assert all(set(r.chunk_ids) <= shown for r in graph.relations)  # citable passages
    fused = svc.search.search(T, question, mode="hybrid+graph", k=5)
    assert {h.document_id for h in fused.hits} == {a.id, b.id}
    # Filters hold for the graph's chunks too.
    only_b = svc.search.search(
        T, question, mode="graph", k=5, filters=svc_filters(document_ids=(b.id,))
    )
    assert {h.document_id for h in only_b.hits} == {b.id}
    # Another tenant's search of the same words sees nothing.
    assert svc.search.search(TenantId("other"), question, mode="graph", k=5).hits == []


def svc_filters(**kw: Any) -> Any:
    from ragd.domain.filters import SearchFilters

    return SearchFilters(**kw)


def test_delete_and_replace_leave_nothing_of_what_only_they_supported(svc: Services) -> None:
    a = svc.ingest.submit_text(T, DOC_A, source="a.txt").document
    svc.ingest.submit_text(T, DOC_B, source="b.txt")
    _run(svc)
    graph = svc.graph
    assert graph is not None
    assert graph.match_entities(T, ["aspirin"], limit=5)
    svc.ingest.delete(T, a.id)
    assert graph.match_entities(T, ["aspirin"], limit=5) == []
    assert graph.stats(T).documents == 1
    # Replace b: its old entities go in the commit that replaces it, the new ones come
    # with the graph stage.
    svc.ingest.submit_text(T, "The Kestrel Institute studied Protein Veltrin.", source="b.txt")
    _run(svc)
    assert graph.match_entities(T, ["hallbrook research group"], limit=5) == []
    assert graph.match_entities(T, ["kestrel institute"], limit=5)
    assert graph.pending_documents(10) == []
    stats = graph.stats(T)
    assert (stats.documents, stats.entities, stats.relations) == (1, 2, 1)


def test_graph_modes_need_the_graph(tmp_path: Path) -> None:
    s = _services(tmp_path, graph_enabled=False)
    with pytest.raises(InvalidRequest, match="RAGD_GRAPH_ENABLED"):
        s.search.search(T, "anything", mode="graph")
    s.close()


def _completion(content: str, prompt_tokens: int = 100, completion_tokens: int = 40) -> Reply:
    return Reply.json(
        200,
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": DEFAULT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def _answer(*chunks: tuple[list[str], list[tuple[str, str, str]]]) -> str:
    return json.dumps(
        {
            "chunks": [
                {
                    "id": i,
                    "entities": [{"name": n, "type": "thing", "aliases": []} for n in names],
                    "relations": [{"source": s, "target": t, "kind": k} for s, t, k in rels],
                }
                for i, (names, rels) in enumerate(chunks, start=1)
            ]
        }
    )


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def test_llm_extractor_batches_and_asks_for_json(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    s = _services(
        tmp_path,
        llm_provider="openai-compatible",
        llm_base_url=fake.base_url,
        llm_model=DEFAULT_MODEL,
        graph_extractor="llm",
        graph_llm_batch=2,
    )
    assert isinstance(s.graph_build.extractor, LlmExtractor)  # type: ignore[union-attr]
    extractor = s.graph_build.extractor  # type: ignore[union-attr]
    fake.enqueue(
        _completion(
            _answer(
                (["Aspirin"], []), (["Ibuprofen", "Kestrel"], [("Ibuprofen", "Kestrel", "made by")])
            )
        ),
        _completion("this is not JSON at all"),  # a garbled answer: the rules step in
        _completion(_answer((["Naproxen"], []))),
    )
    texts = ["aspirin text", "ibuprofen text", "The Vireo Group met.", "x", "naproxen"]
    found, usage = extractor.extract(texts)
    bodies = [r.body for r in fake.chat_requests()]
    assert len(bodies) == 3  # 5 chunks, 2 per call
    assert all(b["response_format"] == {"type": "json_object"} for b in bodies)
    assert "[1] aspirin text" in bodies[0]["messages"][-1]["content"]
    assert "[2] ibuprofen text" in bodies[0]["messages"][-1]["content"]
    assert [e.name for e in found[1].entities] == ["Ibuprofen", "Kestrel"]
    assert found[1].relations[0].kind == "made_by"
    assert [e.name for e in found[2].entities] == ["Vireo Group"]  # the rules' answer
    assert extractor.fallbacks == 2  # the garbled call's two chunks
    assert [e.name for e in found[4].entities] == ["Naproxen"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (300, 120)
    s.close()


def test_llm_tokens_are_counted_and_priced(fake: FakeOpenAIServer, tmp_path: Path) -> None:
    prices = json.dumps({DEFAULT_MODEL: {"input": 1.0, "output": 2.0}})
    s = _services(
        tmp_path,
        llm_provider="openai-compatible",
        llm_base_url=fake.base_url,
        llm_model=DEFAULT_MODEL,
        graph_extractor="llm",
        llm_prices=prices,
    )
    assert s.graph_build is not None
    s.indexing.graph_build = None  # the worker only indexes: the test drives the stage
    doc = s.ingest.submit_text(T, DOC_A, source="a.txt").document
    build_worker(s).run(until_idle=True)
    assert fake.chat_requests() == []
    fake.enqueue(_completion(_answer((["Aspirin", "Hallbrook Research Group"], []))))
    first = s.graph_build.build()
    assert (first.documents, first.prompt_tokens, first.completion_tokens) == (1, 100, 40)
    assert first.cost_usd == pytest.approx((100 * 1.0 + 40 * 2.0) / 1e6)
    assert len(fake.chat_requests()) == 1
    assert s.graph.match_entities(T, ["hallbrook research group"], limit=3)  # type: ignore[union-attr]
    # The graph of the document is dropped and built again: its chunk's extraction comes
    # from the cache (same text, same extractor), so no call and no cost.
    with s.store.transaction() as tx:
        s.graph.remove_document(tx, T, doc.id)  # type: ignore[union-attr]
    again = s.graph_build.build()
    assert (again.documents, again.cached_chunks, again.prompt_tokens) == (1, 1, 0)
    assert len(fake.chat_requests()) == 1
    s.close()
