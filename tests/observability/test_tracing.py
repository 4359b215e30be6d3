"""The span tree of one query, through the real app, into an in-memory exporter.

No function is patched: the app is built with a TracerProvider of the test's own, the
query goes through ASGI with a real API key, SQLite is real, and the reranker is reached
over HTTP (the fake rerank server), so the FastAPI, SQLAlchemy and httpx
instrumentations are exercised along with ragd's own spans.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from tests.api.conftest import BEES, TIDES
from tests.fakes.rerank_server import COHERE_MODEL, FakeRerankServer
from tests.observability.conftest import Traces, client, ingest, new_tenant

QUESTION = "How do honeybees tell nest mates where the flowers are?"
PIPELINE = ("auth", "cache", "embed", "search", "llm")


def _by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    names = [s.name for s in spans]
    return {s.name: s for s in spans if names.count(s.name) == 1}


def _request_span(spans: list[ReadableSpan], route: str) -> ReadableSpan:
    [server] = [s for s in spans if s.kind == SpanKind.SERVER and s.name == route]
    assert server.parent is None  # the root: nothing else in the test is traced
    return server


def _assert_no_secrets(spans: list[ReadableSpan], *secrets: str) -> None:
    for span in spans:
        values = [str(v) for v in (span.attributes or {}).values()]
        values += [str(v) for e in span.events for v in (e.attributes or {}).values()]
        for secret in secrets:
            assert not any(secret in v for v in values), (span.name, secret)


def test_one_query_yields_the_span_tree(tmp_path: Path, traces: Traces) -> None:
    with client(tmp_path / "d", tracer_provider=traces.provider, auth="required") as c:
        tenant, headers = new_tenant(c)
        ingest(c, headers, BEES, TIDES)
        traces.clear()
        r = c.post("/api/v1/query", json={"query": QUESTION}, headers=headers)
        assert r.status_code == 200
    spans = traces.spans()
    server = _request_span(spans, "POST /api/v1/query")
    # One trace: the embedded worker's polling during the query left no spans.
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}
    ours = _by_name(spans)
    assert set(PIPELINE) <= set(ours) and "rerank" not in ours
    for name in PIPELINE:
        assert ours[name].parent is not None
        assert ours[name].parent.span_id == server.context.span_id, name
    starts = [ours[name].start_time for name in PIPELINE]
    assert starts == sorted(starts), "spans follow the pipeline's order"

    assert server.attributes["ragd.tenant_id"] == tenant
    assert ours["auth"].attributes["ragd.auth.method"] == "api_key"
    assert ours["auth"].attributes["ragd.tenant_id"] == tenant
    assert ours["cache"].attributes["ragd.cache.hit"] is False
    assert ours["embed"].attributes["ragd.embedding.model"] == "hashing-64"
    assert ours["embed"].attributes["ragd.embedding.tokens"] > 0
    search = ours["search"].attributes
    assert search["ragd.search.mode"] == "hybrid" and search["ragd.search.top_k"] == 10
    assert search["ragd.docs_retrieved"] >= 1
    llm = ours["llm"].attributes
    assert llm["gen_ai.request.model"] == llm["gen_ai.response.model"] == "ragd-extractive"
    assert llm["gen_ai.usage.input_tokens"] > 0 and llm["gen_ai.usage.output_tokens"] > 0

    # SQLAlchemy: the key lookup is a statement under auth, the search reads under search.
    sql = [s for s in spans if s.kind == SpanKind.CLIENT and s.parent is not None]
    parents = {s.parent.span_id for s in sql if s.parent is not None}
    assert ours["auth"].context.span_id in parents
    assert ours["search"].context.span_id in parents
    _assert_no_secrets(spans, headers["X-API-Key"], QUESTION, "honeybees")


def test_a_cached_answer_is_one_cache_span(tmp_path: Path, traces: Traces) -> None:
    with client(tmp_path / "d", tracer_provider=traces.provider) as c:
        ingest(c, {}, BEES)
        c.post("/api/v1/query", json={"query": QUESTION})
        traces.clear()
        assert c.post("/api/v1/query", json={"query": QUESTION}).json()["cached"] is True
    names = {s.name for s in traces.spans()}
    assert {"auth", "cache"} <= names and not names & {"embed", "search", "llm"}
    [cache] = [s for s in traces.spans() if s.name == "cache"]
    assert cache.attributes["ragd.cache.hit"] is True


def test_rerank_span_with_its_http_call(tmp_path: Path, traces: Traces) -> None:
    with (
        FakeRerankServer() as fake,
        client(
            tmp_path / "d",
            tracer_provider=traces.provider,
            reranker_model=f"cohere:{COHERE_MODEL}",
            reranker_base_url=fake.base_url,
            top_k_rerank=1,
        ) as c,
    ):
        ingest(c, {}, BEES, TIDES)
        traces.clear()
        assert c.post("/api/v1/query", json={"query": QUESTION}).status_code == 200
    spans = traces.spans()
    server = _request_span(spans, "POST /api/v1/query")
    ours = _by_name(spans)
    rerank = ours["rerank"]
    assert rerank.parent is not None and rerank.parent.span_id == server.context.span_id
    assert ours["search"].end_time <= rerank.start_time <= ours["llm"].start_time
    assert rerank.attributes["ragd.rerank.model"] == f"cohere:{COHERE_MODEL}"
    assert rerank.attributes["ragd.rerank.candidates"] >= 2
    assert rerank.attributes["ragd.rerank.top_k"] == 1
    # httpx: the call to the rerank API is a client span under rerank, with its status.
    [http] = [s for s in spans if s.parent and s.parent.span_id == rerank.context.span_id]
    assert http.kind == SpanKind.CLIENT
    assert (
        http.attributes.get("http.response.status_code", http.attributes.get("http.status_code"))
        == 200
    )


def test_streamed_answer_keeps_the_tree(
    tmp_path: Path, traces: Traces, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer generator resumes in a new thread per token: the llm span must still end
    under the request span, with no context left attached across threads."""
    with client(tmp_path / "d", tracer_provider=traces.provider) as c:
        ingest(c, {}, BEES)
        traces.clear()
        with caplog.at_level(logging.ERROR, logger="opentelemetry.context"):
            r = c.post("/api/v1/query", json={"query": QUESTION, "stream": True})
        assert r.status_code == 200 and "event: done" in r.text
    assert not [rec for rec in caplog.records if "detach" in rec.getMessage()]
    spans = traces.spans()
    server = _request_span(spans, "POST /api/v1/query")
    ours = _by_name(spans)
    for name in PIPELINE:
        assert ours[name].parent is not None
        assert ours[name].parent.span_id == server.context.span_id, name
    assert ours["llm"].end_time <= server.end_time


def test_apps_in_one_process_keep_their_spans_apart(tmp_path: Path) -> None:
    """Each app has its own provider; an app without one records nothing anywhere."""
    first, second = Traces(), Traces()
    with (
        client(tmp_path / "a", tracer_provider=first.provider) as a,
        client(tmp_path / "b", tracer_provider=second.provider) as b,
        client(tmp_path / "c") as untraced,
    ):
        for c in (a, b, untraced):
            ingest(c, {}, BEES)
        first.clear()
        second.clear()
        a.post("/api/v1/search", json={"query": "waggle"})
        untraced.post("/api/v1/search", json={"query": "waggle"})
        assert [s.name for s in second.spans()] == []
        b.post("/api/v1/search", json={"query": "waggle"})
    assert {s.name for s in first.spans()} >= {"POST /api/v1/search", "embed", "search"}
    assert len({s.context.trace_id for s in first.spans()}) == 1
    assert len({s.context.trace_id for s in second.spans()}) == 1
    for t in (first, second):
        t.provider.shutdown()
