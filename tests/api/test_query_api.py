"""Search and query over HTTP: shapes, verified citations, SSE, cache, OpenAI routes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx_sse import connect_sse

from tests.api.conftest import BEES, TIDES, make_client, wait_indexed


@pytest.fixture
def loaded(client: TestClient) -> dict[str, str]:
    ids = {
        "bees": client.post(
            "/api/v1/documents",
            json={"text": BEES, "title": "Bees", "metadata": {"kind": "insect"}},
        ).json()["id"],
        "tides": client.post(
            "/api/v1/documents", json={"text": TIDES, "title": "Tides", "metadata": {"kind": "sea"}}
        ).json()["id"],
    }
    for i in ids.values():
        assert wait_indexed(client, i)["status"] == "indexed"
    return ids


def test_search_shape_and_filters(client: TestClient, loaded: dict[str, str]) -> None:
    r = client.post("/api/v1/search", json={"query": "waggle dance distance", "top_k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "hybrid" and body["timings"]["total_ms"] > 0
    top = body["hits"][0]
    assert top["document_id"] == loaded["bees"] and top["title"] == "Bees"
    assert set(top) >= {"chunk_id", "document_id", "title", "text", "score", "page"}
    filtered = client.post(
        "/api/v1/search",
        json={"query": "waggle dance distance", "filters": {"metadata": {"kind": "sea"}}},
    ).json()
    assert {h["document_id"] for h in filtered["hits"]} == {loaded["tides"]}
    sparse = client.post("/api/v1/search", json={"query": "gravity moon", "mode": "sparse"}).json()
    assert sparse["mode"] == "sparse" and sparse["hits"][0]["document_id"] == loaded["tides"]


def test_query_answers_with_verified_citations(client: TestClient, loaded: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/query", json={"query": "What does the duration of the waggle run encode?"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["grounded"] is True and body["model"] == "ragd-extractive"
    assert "[1]" in body["answer"]
    assert body["citations"], body
    assert all(c["document_id"] == loaded["bees"] and c["supported"] for c in body["citations"])
    # The sentence that answers is quoted (its neighbours may be too, in reading order).
    [first] = [c for c in body["citations"] if "duration of the waggle run" in c["quote"]]
    # The quote's offsets point into the document's text.
    passage = body["passages"][first["n"] - 1]
    offset = first["quote_start"] - passage["char_start"]
    assert passage["text"][offset : offset + len(first["quote"])] == first["quote"]
    assert {"search_ms", "llm_ms", "total_ms"} <= set(body["timings"])
    assert body["usage"]["total_tokens"] > 0


def test_query_cache_hits_and_is_invalidated_by_a_new_document(
    client: TestClient, loaded: dict[str, str]
) -> None:
    q = {"query": "What causes tides?"}
    assert client.post("/api/v1/query", json=q).json()["cached"] is False
    assert client.post("/api/v1/query", json=q).json()["cached"] is True
    client.delete(f"/api/v1/documents/{loaded['tides']}")
    after = client.post("/api/v1/query", json=q).json()
    assert after["cached"] is False
    assert all(p["document_id"] != loaded["tides"] for p in after["passages"])


def test_query_stream_is_tokens_then_citations_then_done(
    client: TestClient, loaded: dict[str, str]
) -> None:
    events = []
    with connect_sse(
        client, "POST", "/api/v1/query", json={"query": "What causes tides?", "stream": True}
    ) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            events.append((sse.event, json.loads(sse.data)))
    kinds = [k for k, _ in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    text = "".join(d["text"] for k, d in events if k == "token")
    done = events[-1][1]
    assert text == done["answer"] and "[1]" in text
    cites = events[-2][1]["citations"]
    assert cites and cites[0]["document_id"] == loaded["tides"]
    assert done["timings"]["total_ms"] > 0


def test_bad_requests_are_problems_never_500(client: TestClient) -> None:
    cases = [
        ("/api/v1/search", {"query": ""}),
        ("/api/v1/search", {"query": "x" * 5000}),
        ("/api/v1/search", {"query": "x", "top_k": 0}),
        ("/api/v1/search", {"query": "x", "top_k": 100000}),
        ("/api/v1/search", {"query": "x", "top_k": "ten"}),
        ("/api/v1/search", {"query": "x", "mode": "fuzzy"}),
        ("/api/v1/search", {"query": "x", "filters": {"colour": "red"}}),
        ("/api/v1/search", {"query": "x", "filters": {"metadata": {"k": {"nested": 1}}}}),
        ("/api/v1/search", {"query": "x", "filters": "all"}),
        ("/api/v1/search", {"query": "x", "unknown": 1}),
        ("/api/v1/search", ["query"]),
        ("/api/v1/query", {"query": "x", "stream": "maybe"}),
        ("/api/v1/query", {"query": "x", "history": [{"role": "system", "content": "hi"}]}),
        ("/v1/chat/completions", {"model": "ragd", "messages": []}),
        (
            "/v1/chat/completions",
            {"model": "ragd", "messages": [{"role": "assistant", "content": "hi"}]},
        ),
    ]
    for path, payload in cases:
        r = client.post(path, json=payload)
        assert r.status_code == 422, (path, payload, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 422 and r.json()["type"].startswith("https://")
    r = client.post(
        "/api/v1/search", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = client.post("/api/v1/search", content=b"query=x", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    r = client.get("/api/v1/search")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/api/v1/documents", params={"limit": 0})
    assert r.status_code == 422
    r = client.get("/api/v1/documents", params={"status": "weird"})
    assert r.status_code == 422


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    r = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert (
        made.headers["x-request-id"] != "bad id\twith spaces"
        and len(made.headers["x-request-id"]) == 32
    )
    problem = client.get("/api/v1/documents/nope", headers={"X-Request-ID": "req-9"})
    assert problem.json()["request_id"] == "req-9"


def test_json_body_over_request_limit_is_413(client: TestClient) -> None:
    r = client.post(
        "/api/v1/search",
        content=b'{"query": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_cors_only_for_configured_origins(tmp_path) -> None:
    with make_client(tmp_path / "d", cors_origins="https://app.example") as c:
        ok = c.options(
            "/api/v1/search",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert ok.headers.get("access-control-allow-origin") == "https://app.example"
        other = c.options(
            "/api/v1/search",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.headers.get("access-control-allow-origin") is None


def test_health_ready_and_metrics(client: TestClient, loaded: dict[str, str]) -> None:
    for path in ("/health", "/api/v1/health", "/ready", "/api/v1/ready"):
        assert client.get(path).status_code == 200, path
    detailed = client.get("/health/detailed").json()
    assert detailed["status"] == "ok"
    assert (
        detailed["checks"]["database"]["status"] == "ok"
        and "latency_ms" in detailed["checks"]["database"]
    )
    client.post("/api/v1/query", json={"query": "tides"})
    text = client.get("/metrics").text
    for name in (
        "rag_requests_total",
        "rag_request_duration_seconds",
        "genai_queries_total",
        "genai_query_latency_seconds",
        "ragd_ingest_jobs",
    ):
        assert name in text, name
    assert 'rag_requests_total{endpoint="/api/v1/documents/{document_id}",status="200"}' in text


def test_openai_chat_completions_plain_and_stream(
    client: TestClient, loaded: dict[str, str]
) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and "ragd" in [m["id"] for m in models["data"]]
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Tell me about bees."},
        {"role": "assistant", "content": "They dance."},
        {"role": "user", "content": "What does the waggle run duration encode?"},
    ]
    r = client.post(
        "/v1/chat/completions", json={"model": "ragd", "messages": messages, "top_p": 1}
    )
    assert r.status_code == 200
    body = r.json()
    content = body["choices"][0]["message"]["content"]
    assert "[1]" in content and "Sources:" in content
    assert body["citations"][0]["document_id"] == loaded["bees"]
    unknown = client.post("/v1/chat/completions", json={"model": "gpt-9", "messages": messages})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "ragd-sparse",
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as s:
        lines = [line for line in s.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "[1]" in text and "Sources:" in text
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop"]
    assert finals and finals[0]["citations"]
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_answer_declines_when_nothing_clears_the_threshold(tmp_path) -> None:
    with make_client(tmp_path / "d", similarity_threshold=0.99) as c:
        doc = c.post("/api/v1/documents", json={"text": TIDES}).json()["id"]
        wait_indexed(c, doc)
        body = c.post(
            "/api/v1/query", json={"query": "quantum chromodynamics of gluons", "mode": "dense"}
        ).json()
        assert body["grounded"] is False and body["citations"] == [] and body["passages"] == []
        assert "do not contain" in body["answer"]


def test_openapi_schema_lists_the_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/v1/documents",
        "/api/v1/documents/{document_id}",
        "/api/v1/search",
        "/api/v1/query",
        "/v1/chat/completions",
        "/v1/models",
        "/health",
        "/ready",
        "/health/detailed",
    ):
        assert p in paths, p
    assert client.get("/docs").status_code == httpx.codes.OK


def test_usage_reports_tokens_of_answers(client: TestClient, loaded: dict[str, str]) -> None:
    client.post("/api/v1/query", json={"query": "What causes tides?"})
    body = client.get("/api/v1/usage").json()
    assert body["scope"] == "me" and body["total_tokens"] > 0
    assert body["models"][0]["model"] == "ragd-extractive" and body["models"][0]["requests"] == 1
    assert (
        client.get("/api/v1/usage", params={"scope": "tenant"}).json()["total_tokens"]
        == body["total_tokens"]
    )
    assert client.get("/api/v1/usage", params={"since": "not-a-date"}).status_code == 422


def test_cost_of_known_token_counts(tmp_path) -> None:
    from ragd.domain.pricing import PriceTable

    table = PriceTable.parse('{"m": {"input": 2.5, "output": 10}}')
    assert table.cost("m", 1_000_000, 0) == 2.5
    assert table.cost("m", 200_000, 50_000) == 0.5 + 0.5
    assert table.cost("unknown", 10**6, 10**6) == 0.0
    prices = '{"ragd-extractive": {"input": 1.0, "output": 3.0}}'
    with make_client(tmp_path / "d", llm_prices=prices) as c:
        doc = c.post("/api/v1/documents", json={"text": TIDES}).json()["id"]
        wait_indexed(c, doc)
        answer = c.post("/api/v1/query", json={"query": "What causes tides?"}).json()
        expected = (
            answer["usage"]["prompt_tokens"] * 1.0 + answer["usage"]["completion_tokens"] * 3.0
        ) / 1e6
        usage = c.get("/api/v1/usage").json()
        assert abs(usage["cost_usd"] - round(expected, 6)) < 1e-9 and expected > 0
        line = next(
            x
            for x in c.get("/metrics").text.splitlines()
            if x.startswith('genai_cost_total_dollars{tenant="default"}')
        )
        assert float(line.split()[1]) >= expected * 0.999


def test_bad_price_table_is_a_config_error() -> None:
    import pytest as _pytest

    from ragd.domain.pricing import PriceTable
    from ragd.errors import ConfigError

    for raw in ("nope", '{"m": {"input": 1}}', '{"m": {"input": -1, "output": 1}}'):
        with _pytest.raises(ConfigError):
            PriceTable.parse(raw)


def test_query_reranks_top_k_retrieval_down_to_top_k_rerank(tmp_path) -> None:
    from tests.fakes.rerank_server import COHERE_MODEL, FakeRerankServer

    with (
        FakeRerankServer() as fake,
        make_client(
            tmp_path / "d",
            reranker_model=f"cohere:{COHERE_MODEL}",
            reranker_base_url=fake.base_url,
            top_k_rerank=1,
            cache_ttl_seconds=0,
        ) as c,
    ):
        for text in (BEES, TIDES, "Gravity of the Moon pulls the sea; tides follow the Moon."):
            wait_indexed(c, c.post("/api/v1/documents", json={"text": text}).json()["id"])
        body = c.post("/api/v1/query", json={"query": "Moon gravity tides sea"}).json()
        assert len(body["passages"]) == 1 and "rerank_ms" in body["timings"]
        assert "Moon" in body["passages"][0]["text"]
        assert (
            len(fake.rerank_requests()) == 1
            and len(fake.rerank_requests()[0].body["documents"]) >= 2
        )
        fake.stop()  # reranker down: the answer keeps the retrieval order instead of failing
        after = c.post("/api/v1/query", json={"query": "Moon gravity tides sea"})
        assert after.status_code == 200 and len(after.json()["passages"]) == 1


def test_a_cached_answer_is_not_served_under_other_ranking_settings(tmp_path: Path) -> None:
    """The answer cache in Redis outlives a restart; a restart with other fusion settings
    ranks passages differently, so it must not be served the answers cached before."""
    from tests.services import redis_url

    q = {"query": "What causes tides?"}
    data = tmp_path / "data"
    with make_client(data, redis_url=redis_url()) as c:
        r = c.post("/api/v1/documents", json={"text": TIDES, "title": "tides"})
        assert wait_indexed(c, r.json()["id"])["status"] == "indexed"
        assert c.post("/api/v1/query", json=q).json()["cached"] is False
        assert c.post("/api/v1/query", json=q).json()["cached"] is True
    with make_client(data, redis_url=redis_url()) as c:  # same settings: still cached
        assert c.post("/api/v1/query", json=q).json()["cached"] is True
    with make_client(data, redis_url=redis_url(), fusion_dense_share=0.9) as c:
        assert c.post("/api/v1/query", json=q).json()["cached"] is False
