"""The Python client's own logic, without a server: retry decisions on 503 and 429
(``Retry-After`` as seconds or an HTTP date), problem+json to typed errors, and the
answer stream's parser (an ``error`` event, an over-long event). The client against a
live server: ``tests/e2e/test_python_client.py``."""

from __future__ import annotations

import email.utils
import json
import time

import httpx
import pytest
from ragd_client import (
    RagdClient,
    RagdError,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from ragd_client._sse import MAX_EVENT_CHARS, answer_events
from ragd_client.errors import parse_retry_after

ME = {"tenant_id": "t", "user_id": "u", "role": "reader"}


def _client(responses: list[httpx.Response], calls: list[float], **kw: object) -> RagdClient:
    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        return responses.pop(0)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return RagdClient("http://ragd.test", http_client=http, **kw)  # type: ignore[arg-type]


def _problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": "x", "status": status, "code": code, "detail": code, "request_id": "r1"}
    return httpx.Response(status, json=body, headers=headers)


def test_503_is_retried_with_backoff_then_succeeds() -> None:
    calls: list[float] = []
    responses = [
        _problem(503, "overloaded"),
        _problem(503, "overloaded"),
        httpx.Response(200, json=ME),
    ]
    client = _client(responses, calls, retry=RetryPolicy(max_retries=3, backoff=0.05))
    assert client.me().user_id == "u"
    assert len(calls) == 3


def test_retry_after_as_an_http_date_is_honoured() -> None:
    calls: list[float] = []
    later = email.utils.formatdate(time.time() + 2, usegmt=True)
    responses = [
        _problem(429, "rate_limited", **{"Retry-After": later}),
        httpx.Response(200, json=ME),
    ]
    _client(responses, calls).me()
    assert calls[1] - calls[0] >= 0.9  # an HTTP date has one-second resolution


def test_retries_give_up_with_the_typed_error() -> None:
    calls: list[float] = []
    responses = [_problem(503, "backend_unavailable", **{"Retry-After": "0"})] * 3
    client = _client(list(responses), calls, retry=RetryPolicy(max_retries=2))
    with pytest.raises(ServiceUnavailableError) as failed:
        client.me()
    assert failed.value.code == "backend_unavailable" and failed.value.request_id == "r1"
    assert len(calls) == 3


def test_a_500_is_not_retried_and_a_non_json_body_still_gives_a_typed_error() -> None:
    calls: list[float] = []
    client = _client([httpx.Response(502, text="<html>bad gateway</html>")], calls)
    with pytest.raises(ServerError) as failed:
        client.me()
    assert failed.value.status == 502 and "bad gateway" in failed.value.detail
    assert len(calls) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_stream_error_event_raises_stream_error() -> None:
    problem = {"status": 503, "code": "backend_unavailable", "detail": "llm down"}
    lines = ["event: token", 'data: {"text": "The"}', "", ": ping", "", "event: error"]
    lines += ["data: " + json.dumps(problem), ""]
    events = answer_events(iter(lines))
    assert next(events).text == "The"  # type: ignore[union-attr]
    with pytest.raises(StreamError) as failed:
        next(events)
    assert failed.value.status == 503 and failed.value.code == "backend_unavailable"


def test_an_endless_event_is_refused_not_buffered() -> None:
    def lines():
        yield "event: token"
        chunk = "data: " + "x" * 1_000_000
        for _ in range(MAX_EVENT_CHARS // 1_000_000 + 2):
            yield chunk

    with pytest.raises(RagdError, match="over"):
        list(answer_events(lines()))


def test_conversation_calls_retry_and_quote_the_id() -> None:
    """A conversation call is retried like any other, and an id carrying URL syntax stays
    one path segment: it cannot reach another route."""
    calls: list[float] = []
    seen: list[httpx.Request] = []
    conv = {
        "id": "c1",
        "title": "",
        "shared": False,
        "owned": True,
        "turns": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    responses = [
        _problem(503, "overloaded", **{"Retry-After": "0"}),
        httpx.Response(201, json=conv),
    ]
    responses.append(httpx.Response(200, json={**conv, "messages": []}))

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        seen.append(request)
        return responses.pop(0)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = RagdClient("http://ragd.test", http_client=http)
    assert client.create_conversation().id == "c1"
    assert len(calls) == 2 and json.loads(seen[1].content) == {"title": ""}
    detail = client.get_conversation("../documents?x=1#y")
    assert detail.turns == [] and detail.conversation.turns == 0
    assert seen[2].url.raw_path == b"/api/v1/conversations/..%2Fdocuments%3Fx%3D1%23y"
