"""HttpReranker (Jina's and Cohere's rerank APIs) against the fake rerank server: wire
format, errors, keys, settings. The contract (tests/contract/test_reranker_contract.py)
covers what every reranker shares."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ragd.adapters.reranker.remote import COHERE, JINA, HttpReranker, RerankAPI
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.services.container import build_reranker
from tests.fakes.http_base import Reply
from tests.fakes.rerank_server import (
    COHERE_MODEL,
    JINA_MODEL,
    FakeRerankServer,
    cohere_error,
    jina_error,
    overlap_score,
)

KEY = "rk-test-5e2a9c7b1d"
QUERY = "What causes spring tides?"
PASSAGES = ["Bees dance.", "Spring tides come from the sun and moon aligned.", "Neap tides."]

APIS: dict[str, tuple[RerankAPI, str, Callable[..., Reply]]] = {
    "jina": (JINA, JINA_MODEL, jina_error),
    "cohere": (COHERE, COHERE_MODEL, cohere_error),
}


@pytest.fixture
def server() -> Iterator[FakeRerankServer]:
    with FakeRerankServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture(params=sorted(APIS))
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(flavor: str, server: FakeRerankServer, **kw: Any) -> HttpReranker:
    api, model, _ = APIS[flavor]
    options: dict[str, Any] = {
        "api": api,
        "model": model,
        "api_key": KEY,
        "base_url": server.base_url,
        "timeout": 5.0,
    }
    return HttpReranker(**{**options, **kw})


def fail(flavor: str, status: int, message: str, **kw: Any) -> Reply:
    return APIS[flavor][2](status, message, **kw)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "reranker_model": "",
        "reranker_base_url": None,
        "reranker_api_key": None,
        "jina_api_key": None,
        "cohere_api_key": None,
        "reranker_timeout_seconds": 10.0,
    }
    base.update(overrides)
    return Settings(**base)


# -- wire format -----------------------------------------------------------------------


def test_jina_request(server: FakeRerankServer) -> None:
    scores = make("jina", server).rerank(QUERY, PASSAGES)
    (sent,) = server.rerank_requests()
    assert sent.path == "/v1/rerank"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": JINA_MODEL,
        "query": QUERY,
        "documents": PASSAGES,
        "top_n": 3,
        "return_documents": False,
    }
    assert scores == pytest.approx([overlap_score(QUERY, p) for p in PASSAGES])


def test_cohere_request(server: FakeRerankServer) -> None:
    make("cohere", server).rerank(QUERY, PASSAGES)
    (sent,) = server.rerank_requests()
    assert sent.path == "/v2/rerank"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {"model": COHERE_MODEL, "query": QUERY, "documents": PASSAGES, "top_n": 3}


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v2/"])
def test_the_base_url_is_the_servers_root(server: FakeRerankServer, suffix: str) -> None:
    reranker = make("cohere", server, base_url=server.base_url + suffix)
    assert reranker.base_url == server.base_url
    assert len(reranker.rerank(QUERY, PASSAGES)) == 3


def test_no_passages_no_request(flavor: str, server: FakeRerankServer) -> None:
    assert make(flavor, server).rerank(QUERY, []) == []
    assert not server.rerank_requests()


def test_documents_in_the_answer_are_ignored(server: FakeRerankServer) -> None:
    body = {
        "results": [
            {"index": 1, "relevance_score": 0.9, "document": {"text": PASSAGES[1]}},
            {"index": 0, "relevance_score": 0.1, "document": {"text": PASSAGES[0]}},
            {"index": 2, "relevance_score": 0.5, "document": {"text": PASSAGES[2]}},
        ]
    }
    server.enqueue(Reply.json(200, body))
    assert make("jina", server).rerank(QUERY, PASSAGES) == [0.1, 0.9, 0.5]


def test_building_connects_to_nothing(flavor: str, server: FakeRerankServer) -> None:
    reranker = make(flavor, server)
    assert not reranker.is_connected
    assert reranker.model == f"{flavor}:{APIS[flavor][1]}"


# -- errors ----------------------------------------------------------------------------


def test_429_with_retry_after_is_backend_unavailable(flavor: str, server: FakeRerankServer) -> None:
    server.enqueue(fail(flavor, 429, "Too many requests", headers={"Retry-After": "3"}))
    with pytest.raises(BackendUnavailable) as info:
        make(flavor, server).rerank(QUERY, PASSAGES)
    assert info.value.retryable
    assert "429, retry after 3s: Too many requests" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_backend_unavailable(
    flavor: str, server: FakeRerankServer, status: int
) -> None:
    server.enqueue(fail(flavor, status, "internal server error"))
    with pytest.raises(BackendUnavailable, match=str(status)):
        make(flavor, server).rerank(QUERY, PASSAGES)


def test_401_is_a_config_error_and_the_key_is_masked(flavor: str, server: FakeRerankServer) -> None:
    wrong = "rk-wrong-0123456789"
    with pytest.raises(ConfigError) as info:
        make(flavor, server, api_key=wrong).rerank(QUERY, PASSAGES)
    assert "401" in str(info.value)
    assert "API_KEY" in str(info.value)
    assert wrong not in str(info.value)  # the fake echoes the key it got


def test_an_unknown_model(flavor: str, server: FakeRerankServer) -> None:
    # Cohere answers 404 (configuration); Jina 400 (the request's fault).
    expected = ConfigError if flavor == "cohere" else InvalidRequest
    with pytest.raises(expected, match="rerank-nonexistent"):
        make(flavor, server, model="rerank-nonexistent").rerank(QUERY, PASSAGES)


def test_a_hang_times_out(flavor: str, server: FakeRerankServer) -> None:
    server.enqueue(Reply.hang(10))
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.3s"):
        make(flavor, server, timeout=0.3).rerank(QUERY, PASSAGES)
    assert time.perf_counter() - started < 3


def test_a_server_that_is_not_there(flavor: str) -> None:
    with FakeRerankServer() as gone:
        reranker = make(flavor, gone)
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        reranker.rerank(QUERY, PASSAGES)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply.raw("{'not': json"), id="not-json"),
        pytest.param(Reply.raw("<html>502</html>", content_type="text/html"), id="html"),
        pytest.param(Reply.json(200, {"data": []}), id="no-results"),
        pytest.param(
            Reply.json(200, {"results": [{"index": 0, "relevance_score": 0.5}]}), id="missing"
        ),
        pytest.param(
            Reply.json(
                200,
                {"results": [{"index": i % 2, "relevance_score": 0.5} for i in range(3)]},
            ),
            id="repeated",
        ),
        pytest.param(
            Reply.json(
                200, {"results": [{"index": i + 1, "relevance_score": 1} for i in range(3)]}
            ),
            id="out-of-range",
        ),
        pytest.param(
            Reply.json(
                200, {"results": [{"index": i, "relevance_score": "high"} for i in range(3)]}
            ),
            id="not-a-number",
        ),
        pytest.param(Reply.json(200, {"results": [0, 1, 2]}), id="not-objects"),
    ],
)
def test_malformed_answers_are_backend_unavailable(
    flavor: str, server: FakeRerankServer, reply: Reply
) -> None:
    server.enqueue(reply)
    with pytest.raises(BackendUnavailable, match="malformed"):
        make(flavor, server).rerank(QUERY, PASSAGES)


def test_keys_and_passages_are_never_logged(
    flavor: str, server: FakeRerankServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reranker = make(flavor, server)
    secret = ["the secret launch code is 4711-ALPHA"]
    reranker.rerank("launch code?", secret)
    server.enqueue(fail(flavor, 500, "boom"))
    with pytest.raises(BackendUnavailable):
        reranker.rerank("launch code?", secret)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records
    assert KEY not in logged
    assert "4711-ALPHA" not in logged
    assert KEY not in repr(reranker)


# -- settings --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "  ", "none"])
def test_no_reranker(name: str) -> None:
    assert build_reranker(settings(reranker_model=name)) is None


def test_build_jina_and_cohere() -> None:
    jina = build_reranker(settings(reranker_model=f"jina:{JINA_MODEL}", jina_api_key="j"))
    assert isinstance(jina, HttpReranker)
    assert (jina.model, jina.base_url) == (f"jina:{JINA_MODEL}", "https://api.jina.ai")
    cohere = build_reranker(settings(reranker_model="cohere:rerank-v3.5", cohere_api_key="c"))
    assert isinstance(cohere, HttpReranker)
    assert cohere.base_url == "https://api.cohere.com"
    assert not cohere.is_connected


def test_build_needs_a_key_for_the_providers_own_server() -> None:
    with pytest.raises(ConfigError, match="JINA_API_KEY"):
        build_reranker(settings(reranker_model=f"jina:{JINA_MODEL}"))
    with pytest.raises(ConfigError, match="COHERE_API_KEY"):
        build_reranker(settings(reranker_model="cohere:rerank-v3.5"))


def test_build_a_self_hosted_server(server: FakeRerankServer) -> None:
    """vLLM serves a cross-encoder on /v2/rerank; its key (if any) is RERANKER_API_KEY."""
    reranker = build_reranker(
        settings(
            reranker_model=f"cohere:{COHERE_MODEL}",
            reranker_base_url=server.base_url + "/v1",
            reranker_api_key=KEY,
            cohere_api_key="not-this-one",
        )
    )
    assert reranker is not None
    assert len(reranker.rerank(QUERY, PASSAGES)) == 3
    assert server.rerank_requests()[0].headers["authorization"] == f"Bearer {KEY}"
    without_key = build_reranker(
        settings(reranker_model="cohere:bge-reranker-v2-m3", reranker_base_url="http://vllm:8000")
    )
    assert without_key is not None


@pytest.mark.parametrize("name", ["voyage:rerank-2", "rerank-v3.5", "cohere:"])
def test_unknown_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="RERANKER_MODEL"):
        build_reranker(settings(reranker_model=name, cohere_api_key="c"))


def test_cohere_key_from_the_sdks_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RERANKER_MODEL", "cohere:rerank-v3.5")
    monkeypatch.setenv("CO_API_KEY", "co-env-key")
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("RERANKER_API_KEY", raising=False)
    monkeypatch.delenv("RERANKER_BASE_URL", raising=False)
    reranker = build_reranker(Settings())
    assert reranker is not None
    assert "co-env-key" not in repr(reranker)
