"""AnthropicLLM against the fake Messages API: wire format, streaming events, errors,
keys, settings. The contract (tests/contract/test_llm_contract.py) covers the happy paths
shared with every adapter."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ragd.adapters.llm import anthropic
from ragd.adapters.llm.anthropic import (
    ANTHROPIC_BASE_URL,
    ANTHROPIC_VERSION,
    DEFAULT_ANTHROPIC_MODEL,
    AnthropicLLM,
)
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest
from ragd.services.container import build_provider
from tests.fakes.anthropic_server import DEFAULT_MODEL, FakeAnthropicServer, error, overloaded
from tests.fakes.http_base import Reply
from tests.fakes.openai_server import answer_text

KEY = "sk-ant-api03-test-9b1d4e7f"
REQUEST = GenerationRequest(
    messages=[
        ChatMessage("system", "Answer from the passages."),
        ChatMessage("user", "Passages:\n\n[1] Tides.\n\nQuestion: What causes tides?"),
    ],
    question="What causes tides?",
    passages=["Tides."],
    max_tokens=32,
)


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(api_key=KEY) as fake:
        yield fake


def make_llm(server: FakeAnthropicServer, **kwargs: Any) -> AnthropicLLM:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "model": DEFAULT_MODEL,
        "api_key": KEY,
        "timeout": 5.0,
    }
    options.update(kwargs)
    return AnthropicLLM(**options)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "llm_provider": "anthropic",
        "llm_model": None,
        "llm_base_url": None,
        "anthropic_api_key": None,
        "anthropic_base_url": None,
        "anthropic_model": None,
        "llm_context_window": None,
        "llm_timeout_seconds": 60.0,
    }
    base.update(overrides)
    return Settings(**base)


def built(s: Settings) -> AnthropicLLM:
    """The adapter as the provider registry builds it: the LLM section and the provider
    accounts beside it."""
    return anthropic.build(s.llm, s.providers)


def sse(*events: dict[str, Any]) -> Reply:
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return Reply.raw(text, content_type="text/event-stream")


# -- wire format -----------------------------------------------------------------------


def test_complete_sends_the_messages_body_and_headers(server: FakeAnthropicServer) -> None:
    request = GenerationRequest(
        messages=[
            ChatMessage("system", "Rule one."),
            ChatMessage("user", "Earlier question"),
            ChatMessage("assistant", "Earlier answer"),
            ChatMessage("system", "Rule two."),
            ChatMessage("user", "Passages: p"),
            ChatMessage("user", "Question: What causes tides?"),
        ],
        question="What causes tides?",
        passages=["p"],
        max_tokens=7,
        temperature=1.5,
        stop=["\n\n", "END"],
    )
    completion = make_llm(server).complete(request)
    (sent,) = server.message_requests()
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": DEFAULT_MODEL,
        "max_tokens": 7,
        "system": "Rule one.\n\nRule two.",
        "messages": [
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": "Passages: p\n\nQuestion: What causes tides?"},
        ],
        "temperature": 1.0,  # Anthropic's maximum
        "stop_sequences": ["END"],  # whitespace-only stop sequences are refused by the API
        "stream": False,
    }
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 7
    assert completion.usage.prompt_tokens > 0


def test_usage_counts_cached_input_too(server: FakeAnthropicServer) -> None:
    body = {
        "type": "message",
        "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there [1]."}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 5,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000,
            "output_tokens": 4,
        },
    }
    server.enqueue(Reply.json(200, body))
    completion = make_llm(server).complete(REQUEST)
    assert completion.text == "Hi there [1]."
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1105, 4)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reasons(server: FakeAnthropicServer, stop_reason: str, finish: str) -> None:
    body = {
        "content": [],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 1, "output_tokens": 0},
    }
    server.enqueue(Reply.json(200, body))
    assert make_llm(server).complete(REQUEST).finish_reason == finish


def test_stream_reads_the_events(server: FakeAnthropicServer) -> None:
    items = list(make_llm(server).stream(REQUEST))
    (sent,) = server.message_requests()
    assert sent.body["stream"] is True
    final = items[-1]
    assert isinstance(final, Completion)
    expected = answer_text(sent.body["messages"])
    assert final.text == expected == "".join(i for i in items[:-1] if isinstance(i, str))
    assert final.usage.completion_tokens == len(expected.split())  # message_delta's count
    assert final.usage.prompt_tokens > 0  # message_start's count
    assert final.finish_reason == "stop"


def test_a_stop_sequence_cuts_the_stream(server: FakeAnthropicServer) -> None:
    request = GenerationRequest(
        messages=REQUEST.messages, question="q", passages=[], max_tokens=32, stop=["answer"]
    )
    final = list(make_llm(server).stream(request))[-1]
    assert isinstance(final, Completion)
    assert final.text == "You asked: What causes tides. The"
    assert final.finish_reason == "stop"


def test_stream_ignores_pings_thinking_and_unknown_events(server: FakeAnthropicServer) -> None:
    server.enqueue(
        sse(
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 9, "output_tokens": 1}},
            },
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
            {"type": "ping"},
            {"type": "some_future_event"},
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Yes [1]."},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 3},
            },
            {"type": "message_stop"},
        )
    )
    items = list(make_llm(server).stream(REQUEST))
    assert items[:-1] == ["Yes [1]."]
    final = items[-1]
    assert isinstance(final, Completion)
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (9, 3)
    assert final.finish_reason == "length"


def test_stream_yields_deltas_as_they_arrive() -> None:
    with FakeAnthropicServer(api_key=KEY, chunk_delay=0.05) as fake:
        started = time.perf_counter()
        stream = make_llm(fake).stream(REQUEST)
        assert isinstance(next(stream), str)
        first = time.perf_counter() - started
        rest = list(stream)
        total = time.perf_counter() - started
    assert isinstance(rest[-1], Completion)
    assert first < total / 2


def test_closing_the_stream_closes_the_http_response() -> None:
    with FakeAnthropicServer(api_key=KEY, chunk_delay=0.05) as fake:
        llm = make_llm(fake)
        stream = llm.stream(REQUEST)
        assert isinstance(next(stream), str)
        stream.close()
        assert fake.wait_for_aborted_stream(timeout=5.0)
        assert llm.complete(REQUEST).text


def test_a_proxy_that_ignores_stream_still_streams_the_whole_answer(
    server: FakeAnthropicServer,
) -> None:
    body = {
        "content": [{"type": "text", "text": "All at once [1]."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 5},
    }
    server.enqueue(Reply.json(200, body))
    items = list(make_llm(server).stream(REQUEST))
    assert items[:-1] == ["All at once [1]."]
    final = items[-1]
    assert isinstance(final, Completion)
    assert final.usage.prompt_tokens == 9


def test_usage_is_estimated_when_missing(server: FakeAnthropicServer) -> None:
    server.enqueue(Reply.json(200, {"content": [{"type": "text", "text": "Two words"}]}))
    llm = make_llm(server)
    completion = llm.complete(REQUEST)
    assert completion.usage.completion_tokens == llm.count_tokens("Two words")
    assert completion.usage.prompt_tokens > 0


def test_only_system_messages_is_an_invalid_request(server: FakeAnthropicServer) -> None:
    request = GenerationRequest(messages=[ChatMessage("system", "s")], question="q", passages=[])
    with pytest.raises(InvalidRequest):
        make_llm(server).complete(request)
    assert not server.message_requests()


# -- errors ----------------------------------------------------------------------------


def test_429_with_retry_after_is_backend_unavailable(server: FakeAnthropicServer) -> None:
    server.enqueue(
        error(429, "rate_limit_error", "Number of requests exceeded", headers={"retry-after": "2"})
    )
    server.enqueue(
        error(429, "rate_limit_error", "Number of requests exceeded", headers={"retry-after": "2"})
    )
    llm = make_llm(server)
    for call in (llm.complete, lambda r: list(llm.stream(r))):
        with pytest.raises(BackendUnavailable) as info:
            call(REQUEST)
        assert info.value.retryable
        assert "429" in str(info.value)
        assert "retry after 2s" in str(info.value)
        assert "rate_limit_error" in str(info.value)


def test_529_overloaded_is_backend_unavailable(server: FakeAnthropicServer) -> None:
    server.enqueue(overloaded(), overloaded())
    llm = make_llm(server)
    with pytest.raises(BackendUnavailable, match=r"529.*overloaded_error"):
        llm.complete(REQUEST)
    with pytest.raises(BackendUnavailable, match="overloaded"):
        list(llm.stream(REQUEST))


def test_500_is_backend_unavailable_and_quotes_the_request_id(server: FakeAnthropicServer) -> None:
    server.enqueue(error(500, "api_error", "Internal server error"))
    with pytest.raises(BackendUnavailable, match=r"500.*req_fake"):
        make_llm(server).complete(REQUEST)


def test_401_is_a_config_error_and_the_key_is_masked(server: FakeAnthropicServer) -> None:
    wrong = "sk-ant-wrong-0123456789"
    llm = make_llm(server, api_key=wrong)
    with pytest.raises(ConfigError) as info:
        llm.complete(REQUEST)
    assert "401" in str(info.value)
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert wrong not in str(info.value)  # the fake echoes the key it got
    with pytest.raises(ConfigError):
        list(llm.stream(REQUEST))


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (error(403, "permission_error", "no access"), ConfigError),
        (error(402, "billing_error", "credit balance too low"), ConfigError),
        (error(400, "invalid_request_error", "prompt is too long"), InvalidRequest),
        (error(413, "request_too_large", "Request exceeds the maximum size"), InvalidRequest),
    ],
)
def test_other_statuses(server: FakeAnthropicServer, reply: Reply, kind: type[Exception]) -> None:
    server.enqueue(reply)
    with pytest.raises(kind):
        make_llm(server).complete(REQUEST)


def test_an_unknown_model_is_a_config_error(server: FakeAnthropicServer) -> None:
    with pytest.raises(ConfigError, match=r"404.*claude-nonexistent"):
        make_llm(server, model="claude-nonexistent").complete(REQUEST)


def test_an_error_event_inside_the_stream_is_translated(server: FakeAnthropicServer) -> None:
    server.enqueue(
        sse(
            {"type": "message_start", "message": {"usage": {"input_tokens": 9}}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hal"},
            },
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    )
    stream = make_llm(server).stream(REQUEST)
    assert next(stream) == "Hal"
    with pytest.raises(BackendUnavailable, match="overloaded"):
        next(stream)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply.raw("{'not': json"), id="not-json"),
        pytest.param(Reply.raw('{"type": "message"}'), id="no-content"),
        pytest.param(Reply.raw('{"content": [{"type": "text", "text": 3}]}'), id="bad-text"),
        pytest.param(Reply.raw("[1, 2]"), id="not-an-object"),
        pytest.param(Reply.raw("<html>Bad gateway</html>", content_type="text/html"), id="html"),
    ],
)
def test_a_malformed_answer_is_backend_unavailable(
    server: FakeAnthropicServer, reply: Reply
) -> None:
    server.enqueue(reply)
    with pytest.raises(BackendUnavailable, match="malformed"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize(
    "events",
    [
        pytest.param("event: message_start\ndata: {not json\n\n", id="not-json"),
        pytest.param('data: {"no": "type"}\n\n', id="no-type"),
        pytest.param(
            'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": 5}}\n\n',
            id="bad-delta",
        ),
        pytest.param(
            'data: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hal"}}\n\n',
            id="no-message-stop",
        ),
    ],
)
def test_a_malformed_stream_is_backend_unavailable(
    server: FakeAnthropicServer, events: str
) -> None:
    server.enqueue(Reply.raw(events, content_type="text/event-stream"))
    with pytest.raises(BackendUnavailable):
        list(make_llm(server).stream(REQUEST))


def test_neither_key_nor_prompt_is_ever_logged(
    server: FakeAnthropicServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    secret_prompt = "Question: the secret launch code is 4711-ALPHA"
    request = GenerationRequest(
        messages=[ChatMessage("user", secret_prompt)], question="q", passages=[], max_tokens=8
    )
    llm = make_llm(server)
    llm.complete(request)
    list(llm.stream(request))
    server.enqueue(error(500, "api_error", "boom"))
    with pytest.raises(BackendUnavailable):
        llm.complete(request)
    wrong = make_llm(server, api_key=KEY + "-revoked")
    with pytest.raises(ConfigError) as info:
        wrong.complete(request)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records
    assert KEY not in logged
    assert "4711-ALPHA" not in logged
    assert KEY not in str(info.value)
    assert KEY not in repr(llm)


# -- settings --------------------------------------------------------------------------


def test_build_defaults_and_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        built(settings())
    llm = built(settings(anthropic_api_key="sk-ant-x"))
    assert llm.base_url == ANTHROPIC_BASE_URL
    assert llm.model == DEFAULT_ANTHROPIC_MODEL
    assert llm.context_window == 200_000
    assert not llm.is_connected


def test_build_model_precedence() -> None:
    key = {"anthropic_api_key": "sk-ant-x"}
    assert built(settings(llm_model="claude-a", **key)).model == "claude-a"
    assert (
        built(settings(llm_model="claude-a", anthropic_model="claude-b", **key)).model == "claude-b"
    )
    # As a fallback behind OpenAI, LLM_MODEL is OpenAI's model, not Anthropic's.
    fallback = settings(llm_provider="openai", llm_model="gpt-4o-mini", **key)
    assert built(fallback).model == DEFAULT_ANTHROPIC_MODEL


def test_build_against_a_gateway_without_a_key(server: FakeAnthropicServer) -> None:
    with FakeAnthropicServer() as open_server:
        llm = built(settings(anthropic_base_url=open_server.base_url, llm_model=DEFAULT_MODEL))
        assert llm.complete(REQUEST).text
        assert "x-api-key" not in open_server.message_requests()[0].headers


def test_the_container_builds_it() -> None:
    llm = build_provider(
        settings(anthropic_api_key="sk-ant-x", llm_context_window=4096), "anthropic"
    )
    assert isinstance(llm, AnthropicLLM)
    assert llm.context_window == 4096
