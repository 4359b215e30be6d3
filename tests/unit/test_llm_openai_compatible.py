"""OpenAICompatibleLLM against the fake OpenAI server: wire format, errors, keys, settings.

The contract (tests/contract/test_llm_contract.py) covers the happy paths shared with
every adapter; this file covers what only an HTTP provider has.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from ragd.adapters import providers
from ragd.adapters.llm.openai_compatible import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_OPENAI_MODEL,
    OPENAI_BASE_URL,
    OpenAICompatibleLLM,
)
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer, Reply, answer_text

KEY = "sk-test-5f3c9a1e7d2b4c6a8e0f"
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
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def keyed_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=KEY) as fake:
        yield fake


def make_llm(server: FakeOpenAIServer, **kwargs: Any) -> OpenAICompatibleLLM:
    options: dict[str, Any] = {"base_url": server.base_url, "model": DEFAULT_MODEL, "timeout": 5.0}
    options.update(kwargs)
    return OpenAICompatibleLLM(**options)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "llm_provider": "openai-compatible",
        "llm_model": None,
        "llm_model_path": None,
        "llm_base_url": None,
        "openai_api_key": None,
        "llm_context_window": None,
        "llm_timeout_seconds": 60.0,
    }
    base.update(overrides)
    return Settings(**base)


def built(s: Settings) -> OpenAICompatibleLLM:
    """The adapter as the provider registry builds it, by the name ``LLM_PROVIDER`` gives:
    the LLM section and the provider accounts beside it."""
    return cast(OpenAICompatibleLLM, providers.build_llm(s, s.llm.provider))


# -- wire format -----------------------------------------------------------------------


def test_complete_sends_the_chat_completions_body(server: FakeOpenAIServer) -> None:
    request = GenerationRequest(
        messages=REQUEST.messages,
        question=REQUEST.question,
        passages=REQUEST.passages,
        max_tokens=7,
        temperature=0.3,
        stop=["\n\n"],
    )
    completion = make_llm(server).complete(request)
    (sent,) = server.chat_requests()
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": DEFAULT_MODEL,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": 7,
        "temperature": 0.3,
        "stop": ["\n\n"],
        "stream": False,
    }
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 7


def test_stream_asks_for_usage_and_takes_it_from_the_final_chunk(
    server: FakeOpenAIServer,
) -> None:
    items = list(make_llm(server).stream(REQUEST))
    (sent,) = server.chat_requests()
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert "stop" not in sent.body  # no stop sequences: none sent
    final = items[-1]
    assert isinstance(final, Completion)
    expected = answer_text(sent.body["messages"])
    assert final.text == expected
    assert final.usage.completion_tokens == len(expected.split())  # the server's count
    assert final.finish_reason == "stop"


def test_usage_is_estimated_when_the_server_sends_none() -> None:
    with FakeOpenAIServer(send_usage=False) as fake:
        llm = make_llm(fake)
        completion = llm.complete(REQUEST)
        final = list(llm.stream(REQUEST))[-1]
    assert isinstance(final, Completion)
    for c in (completion, final):
        assert c.usage.prompt_tokens > 0
        assert c.usage.completion_tokens == llm.count_tokens(c.text)


def test_stream_yields_deltas_as_they_arrive() -> None:
    with FakeOpenAIServer(chunk_delay=0.05) as fake:
        started = time.perf_counter()
        stream = make_llm(fake).stream(REQUEST)
        assert isinstance(next(stream), str)
        first = time.perf_counter() - started
        rest = list(stream)
        total = time.perf_counter() - started
    assert isinstance(rest[-1], Completion)
    assert len(rest) > 5
    assert first < total / 2


def test_closing_the_stream_closes_the_http_response() -> None:
    long_request = GenerationRequest(
        messages=[ChatMessage("user", "Question: " + " ".join(["word"] * 19))],
        question="q",
        passages=[],
        max_tokens=64,
    )
    with FakeOpenAIServer(chunk_delay=0.05) as fake:
        llm = make_llm(fake)
        stream = llm.stream(long_request)
        assert isinstance(next(stream), str)
        stream.close()
        assert fake.wait_for_aborted_stream(timeout=5.0)
        assert llm.complete(REQUEST).text  # and the adapter still works


def test_a_server_that_ignores_stream_still_streams_its_whole_answer(
    server: FakeOpenAIServer,
) -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": DEFAULT_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "All at once [1]."}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }
    server.enqueue(Reply.raw(json.dumps(body)))
    items = list(make_llm(server).stream(REQUEST))
    assert items[:-1] == ["All at once [1]."]
    final = items[-1]
    assert isinstance(final, Completion)
    assert final.text == "All at once [1]."
    assert final.usage.prompt_tokens == 9


def test_concurrent_calls_share_one_client(server: FakeOpenAIServer) -> None:
    llm = make_llm(server)
    results: list[str] = []

    def call() -> None:
        results.append(llm.complete(REQUEST).text)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1


# -- errors ----------------------------------------------------------------------------


def test_429_with_retry_after_is_backend_unavailable(server: FakeOpenAIServer) -> None:
    server.enqueue(
        Reply.error(
            429,
            "Rate limit reached for requests",
            type="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": "2"},
        )
    )
    with pytest.raises(BackendUnavailable) as info:
        make_llm(server).complete(REQUEST)
    assert info.value.retryable
    assert "429" in str(info.value)
    assert "retry after 2s" in str(info.value)


def test_429_for_an_exhausted_quota_is_a_config_error(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply.error(429, "You exceeded your current quota", code="insufficient_quota"))
    with pytest.raises(ConfigError, match="quota"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_backend_unavailable(server: FakeOpenAIServer, status: int) -> None:
    server.enqueue(Reply.error(status, "The server had an error", type="server_error"))
    server.enqueue(Reply.error(status, "The server had an error", type="server_error"))
    llm = make_llm(server)
    with pytest.raises(BackendUnavailable, match=str(status)):
        llm.complete(REQUEST)
    with pytest.raises(BackendUnavailable, match=str(status)):
        list(llm.stream(REQUEST))


def test_401_is_a_config_error_and_the_key_is_masked(keyed_server: FakeOpenAIServer) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    llm = make_llm(keyed_server, api_key=wrong)
    with pytest.raises(ConfigError) as info:
        llm.complete(REQUEST)
    assert "401" in str(info.value)
    assert "invalid_api_key" in str(info.value)
    assert wrong not in str(info.value)  # the fake echoes the key it got
    with pytest.raises(ConfigError):
        list(llm.stream(REQUEST))


def test_403_is_a_config_error(server: FakeOpenAIServer) -> None:
    server.enqueue(Reply.error(403, "Project does not have access to this model"))
    with pytest.raises(ConfigError, match="403"):
        make_llm(server).complete(REQUEST)


def test_an_unknown_model_is_a_config_error(server: FakeOpenAIServer) -> None:
    with pytest.raises(ConfigError, match="model_not_found"):
        make_llm(server, model="gpt-nonexistent").complete(REQUEST)


def test_a_wrong_base_url_is_a_config_error(server: FakeOpenAIServer) -> None:
    llm = OpenAICompatibleLLM(base_url=server.root_url + "/v2", model=DEFAULT_MODEL)
    with pytest.raises(ConfigError, match="LLM_BASE_URL"):
        llm.complete(REQUEST)


def test_a_prompt_too_long_is_an_invalid_request(server: FakeOpenAIServer) -> None:
    server.enqueue(
        Reply.error(
            400,
            "This model's maximum context length is 8192 tokens.",
            code="context_length_exceeded",
        )
    )
    with pytest.raises(InvalidRequest, match="context_length_exceeded"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply.raw("{'not': json"), id="not-json"),
        pytest.param(Reply.raw('{"object": "chat.completion"}'), id="no-choices"),
        pytest.param(Reply.raw('{"choices": [{"message": {"content": 3}}]}'), id="bad-content"),
        pytest.param(Reply.raw("[1, 2]"), id="not-an-object"),
        pytest.param(Reply.raw("<html>Bad gateway</html>", content_type="text/html"), id="html"),
    ],
)
def test_a_malformed_answer_is_backend_unavailable(server: FakeOpenAIServer, reply: Reply) -> None:
    server.enqueue(reply)
    with pytest.raises(BackendUnavailable, match="malformed"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize(
    "events",
    [
        pytest.param("data: {not json\n\n", id="not-json"),
        pytest.param('data: {"choices": [{"delta": {"content": 5}}]}\n\n', id="bad-delta"),
        pytest.param('data: {"choices": [{"delta": {"content": "Hal"}}]}\n\n', id="no-done"),
    ],
)
def test_a_malformed_stream_is_backend_unavailable(server: FakeOpenAIServer, events: str) -> None:
    server.enqueue(Reply.raw(events, content_type="text/event-stream"))
    with pytest.raises(BackendUnavailable):
        list(make_llm(server).stream(REQUEST))


def test_an_error_event_inside_the_stream_is_translated(server: FakeOpenAIServer) -> None:
    events = (
        'data: {"choices": [{"index": 0, "delta": {"content": "Hal"}}]}\n\n'
        'data: {"error": {"message": "overloaded", "type": "server_error", "code": null}}\n\n'
    )
    server.enqueue(Reply.raw(events, content_type="text/event-stream"))
    stream = make_llm(server).stream(REQUEST)
    assert next(stream) == "Hal"
    with pytest.raises(BackendUnavailable, match="overloaded"):
        next(stream)


# -- keys ------------------------------------------------------------------------------


def test_the_key_is_sent_as_a_bearer_token(keyed_server: FakeOpenAIServer) -> None:
    llm = make_llm(keyed_server, api_key=KEY)
    assert llm.complete(REQUEST).text
    assert isinstance(list(llm.stream(REQUEST))[-1], Completion)
    assert [r.headers["authorization"] for r in keyed_server.chat_requests()] == [
        f"Bearer {KEY}"
    ] * 2


def test_no_authorization_header_without_a_key(server: FakeOpenAIServer) -> None:
    make_llm(server).complete(REQUEST)
    assert "authorization" not in server.chat_requests()[0].headers


def test_neither_key_nor_prompt_is_ever_logged(
    keyed_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    secret_prompt = "Question: the secret launch code is 4711-ALPHA"
    request = GenerationRequest(
        messages=[ChatMessage("user", secret_prompt)], question="q", passages=[], max_tokens=8
    )
    llm = make_llm(keyed_server, api_key=KEY)
    llm.complete(request)
    list(llm.stream(request))
    keyed_server.enqueue(Reply.error(500, "boom", type="server_error"))
    with pytest.raises(BackendUnavailable):
        llm.complete(request)
    wrong = make_llm(keyed_server, api_key=KEY + "-revoked")
    with pytest.raises(ConfigError) as info:
        wrong.complete(request)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records  # the adapter and httpx did log
    assert KEY not in logged
    assert "4711-ALPHA" not in logged
    assert KEY not in str(info.value)
    assert KEY not in repr(llm)


# -- settings --------------------------------------------------------------------------


def test_build_openai_defaults() -> None:
    llm = built(settings(llm_provider="openai", openai_api_key="sk-x"))
    assert llm.base_url == OPENAI_BASE_URL
    assert llm.model == DEFAULT_OPENAI_MODEL
    assert llm.context_window == DEFAULT_CONTEXT_WINDOW


def test_build_openai_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        built(settings(llm_provider="openai"))


def test_build_openai_compatible_needs_base_url_and_model() -> None:
    with pytest.raises(ConfigError, match="LLM_BASE_URL"):
        built(settings(llm_model="llama3.2"))
    with pytest.raises(ConfigError, match="LLM_MODEL"):
        built(settings(llm_base_url="http://localhost:11434/v1"))


def test_build_openai_compatible_from_settings(server: FakeOpenAIServer) -> None:
    llm = built(
        settings(
            llm_base_url=server.base_url + "/",
            llm_model=DEFAULT_MODEL,
            llm_context_window=4096,
            llm_timeout_seconds=7,
        )
    )
    assert llm.base_url == server.base_url
    assert llm.context_window == 4096
    assert llm.complete(REQUEST).text
    assert server.requests  # only now: building made no request


def test_a_base_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        OpenAICompatibleLLM(base_url="localhost:11434/v1", model="m")


def test_a_fallback_provider_is_built_as_itself() -> None:
    """``openai`` behind another primary is OpenAI (its URL, key and default model), not an
    openai-compatible server asking for LLM_BASE_URL."""
    s = settings(llm_provider="anthropic", openai_api_key="sk-test")
    llm = providers.build_llm(s, "openai")
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.provider == "openai" and llm.model == "gpt-4o-mini"
    assert llm.base_url.rstrip("/") == "https://api.openai.com/v1"
    with pytest.raises(ConfigError, match="openai-compatible needs LLM_BASE_URL"):
        providers.build_llm(s, "openai-compatible")
