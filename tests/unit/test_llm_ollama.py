"""OllamaLLM against the fake Ollama server: the native /api/chat wire format, NDJSON
streaming, errors, settings. The contract (tests/contract/test_llm_contract.py) covers
the happy paths shared with every adapter."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ragd.adapters.llm import ollama
from ragd.adapters.llm.ollama import DEFAULT_CONTEXT_WINDOW, DEFAULT_OLLAMA_URL, OllamaLLM
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest
from ragd.services.container import build_provider
from tests.fakes.http_base import Reply
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllamaServer, error
from tests.fakes.openai_server import answer_text

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
def server() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as fake:
        yield fake


def make_llm(server: FakeOllamaServer, **kwargs: Any) -> OllamaLLM:
    options: dict[str, Any] = {"base_url": server.base_url, "model": DEFAULT_MODEL, "timeout": 5.0}
    options.update(kwargs)
    return OllamaLLM(**options)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "llm_provider": "ollama",
        "llm_model": None,
        "ollama_model": None,
        "ollama_url": DEFAULT_OLLAMA_URL,
        "llm_context_window": None,
        "llm_timeout_seconds": 60.0,
    }
    base.update(overrides)
    return Settings(**base)


def built(s: Settings) -> OllamaLLM:
    """The adapter as the provider registry builds it: the LLM section and the provider
    accounts beside it."""
    return ollama.build(s.llm, s.providers)


def ndjson(*lines: dict[str, Any] | str) -> Reply:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return Reply.raw(text, content_type="application/x-ndjson")


# -- wire format -----------------------------------------------------------------------


def test_complete_sends_the_chat_body(server: FakeOllamaServer) -> None:
    request = GenerationRequest(
        messages=REQUEST.messages,
        question=REQUEST.question,
        passages=REQUEST.passages,
        max_tokens=7,
        temperature=0.3,
        stop=["\n\n"],
    )
    completion = make_llm(server, context_window=4096).complete(request)
    (sent,) = server.chat_requests()
    assert sent.path == "/api/chat"
    assert sent.body == {
        "model": DEFAULT_MODEL,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": False,  # Ollama streams unless told not to
        "options": {"temperature": 0.3, "num_predict": 7, "num_ctx": 4096, "stop": ["\n\n"]},
    }
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 7
    assert completion.usage.prompt_tokens > 0


def test_num_ctx_keeps_a_long_prompt_whole(server: FakeOllamaServer) -> None:
    """Ollama silently cuts a prompt longer than num_ctx (default 2048); the adapter sends
    its context window so the prompt builder's budget is the model's."""
    long = GenerationRequest(
        messages=[ChatMessage("user", "word " * 3000 + "Question: long?")],
        question="long?",
        passages=[],
        max_tokens=8,
    )
    make_llm(server).complete(long)
    assert server.chat_requests()[0].body["options"]["num_ctx"] == DEFAULT_CONTEXT_WINDOW
    assert server.truncated_prompts == 0


def test_stream_reads_ndjson_lines(server: FakeOllamaServer) -> None:
    items = list(make_llm(server).stream(REQUEST))
    (sent,) = server.chat_requests()
    assert sent.body["stream"] is True
    final = items[-1]
    assert isinstance(final, Completion)
    expected = answer_text(sent.body["messages"])
    assert final.text == expected == "".join(i for i in items[:-1] if isinstance(i, str))
    assert len(items) - 1 == len(expected.split())  # one delta per line
    assert final.usage.completion_tokens == len(expected.split())  # eval_count
    assert final.usage.prompt_tokens > 0  # prompt_eval_count
    assert final.finish_reason == "stop"


def test_stream_stops_at_the_done_line(server: FakeOllamaServer) -> None:
    server.enqueue(
        ndjson(
            {"model": "m", "message": {"role": "assistant", "content": "Hi"}, "done": False},
            "",
            {"model": "m", "message": {"role": "assistant", "content": " [1]."}, "done": False},
            {
                "model": "m",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "length",
                "prompt_eval_count": 11,
                "eval_count": 2,
            },
            "this line is never read",
        )
    )
    items = list(make_llm(server).stream(REQUEST))
    assert items[:-1] == ["Hi", " [1]."]
    final = items[-1]
    assert isinstance(final, Completion)
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (11, 2)
    assert final.finish_reason == "length"


def test_a_cached_prompt_without_prompt_count_gets_an_estimate() -> None:
    with FakeOllamaServer(send_prompt_count=False) as fake:
        llm = make_llm(fake)
        completion = llm.complete(REQUEST)
        final = list(llm.stream(REQUEST))[-1]
    assert isinstance(final, Completion)
    for c in (completion, final):
        assert c.usage.prompt_tokens > 0
        assert c.usage.completion_tokens == len(c.text.split())  # eval_count still sent


def test_stream_yields_deltas_as_they_arrive() -> None:
    with FakeOllamaServer(chunk_delay=0.05) as fake:
        started = time.perf_counter()
        stream = make_llm(fake).stream(REQUEST)
        assert isinstance(next(stream), str)
        first = time.perf_counter() - started
        rest = list(stream)
        total = time.perf_counter() - started
    assert isinstance(rest[-1], Completion)
    assert first < total / 2


def test_closing_the_stream_closes_the_http_response() -> None:
    with FakeOllamaServer(chunk_delay=0.05) as fake:
        llm = make_llm(fake)
        stream = llm.stream(REQUEST)
        assert isinstance(next(stream), str)
        stream.close()
        assert fake.wait_for_aborted_stream(timeout=5.0)
        assert llm.complete(REQUEST).text


def test_a_request_without_messages_sends_nothing(server: FakeOllamaServer) -> None:
    empty = GenerationRequest(messages=[], question="q", passages=[])
    with pytest.raises(InvalidRequest):
        make_llm(server).complete(empty)
    assert not server.chat_requests()


# -- errors ----------------------------------------------------------------------------


def test_a_model_not_pulled_is_a_config_error(server: FakeOllamaServer) -> None:
    llm = make_llm(server, model="mistral:7b")
    with pytest.raises(ConfigError, match=r"404.*ollama pull mistral:7b.*not found"):
        llm.complete(REQUEST)
    with pytest.raises(ConfigError, match="ollama pull"):
        list(llm.stream(REQUEST))


def test_429_with_retry_after_is_backend_unavailable(server: FakeOllamaServer) -> None:
    """What a proxy or Ollama's cloud answers under load."""
    server.enqueue(error(429, "too many requests", headers={"Retry-After": "2"}))
    with pytest.raises(BackendUnavailable, match=r"429, retry after 2s: too many requests"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_backend_unavailable(server: FakeOllamaServer, status: int) -> None:
    server.enqueue(
        error(status, "llama runner process has terminated"),
        error(status, "llama runner process has terminated"),
    )
    llm = make_llm(server)
    with pytest.raises(BackendUnavailable, match=str(status)):
        llm.complete(REQUEST)
    with pytest.raises(BackendUnavailable, match="runner"):
        list(llm.stream(REQUEST))


def test_a_bad_option_is_an_invalid_request(server: FakeOllamaServer) -> None:
    server.enqueue(error(400, "option num_ctx must be an integer"))
    with pytest.raises(InvalidRequest, match="num_ctx"):
        make_llm(server).complete(REQUEST)


def test_an_error_line_inside_the_stream_is_translated(server: FakeOllamaServer) -> None:
    server.enqueue(
        ndjson(
            {"model": "m", "message": {"role": "assistant", "content": "Hal"}, "done": False},
            {"error": "an error was encountered while running the model"},
        )
    )
    stream = make_llm(server).stream(REQUEST)
    assert next(stream) == "Hal"
    with pytest.raises(BackendUnavailable, match="running the model"):
        next(stream)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply.raw("{'not': json"), id="not-json"),
        pytest.param(Reply.raw('{"message": {"content": "x"}}'), id="no-done"),
        pytest.param(Reply.raw('{"message": {"content": 3}, "done": true}'), id="bad-content"),
        pytest.param(Reply.raw('{"message": {"content": "x"}, "done": false}'), id="not-done"),
        pytest.param(Reply.raw("[1, 2]"), id="not-an-object"),
    ],
)
def test_a_malformed_answer_is_backend_unavailable(server: FakeOllamaServer, reply: Reply) -> None:
    server.enqueue(reply)
    with pytest.raises(BackendUnavailable, match="malformed"):
        make_llm(server).complete(REQUEST)


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(("{not json",), id="not-json"),
        pytest.param(('{"message": {"content": 5}, "done": false}',), id="bad-content"),
        pytest.param(('{"message": {"content": "Hal"}, "done": false}',), id="no-done-line"),
    ],
)
def test_a_malformed_stream_is_backend_unavailable(
    server: FakeOllamaServer, lines: tuple[str, ...]
) -> None:
    server.enqueue(ndjson(*lines))
    with pytest.raises(BackendUnavailable):
        list(make_llm(server).stream(REQUEST))


def test_the_prompt_is_never_logged(
    server: FakeOllamaServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = GenerationRequest(
        messages=[ChatMessage("user", "Question: the secret launch code is 4711-ALPHA")],
        question="q",
        passages=[],
        max_tokens=8,
    )
    llm = make_llm(server)
    llm.complete(request)
    list(llm.stream(request))
    server.enqueue(error(500, "boom"))
    with pytest.raises(BackendUnavailable):
        llm.complete(request)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records
    assert "4711-ALPHA" not in logged


# -- settings --------------------------------------------------------------------------


def test_build_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="OLLAMA_MODEL"):
        built(settings())


def test_build_model_precedence_and_defaults() -> None:
    llm = built(settings(llm_model="llama3.2"))
    assert (llm.model, llm.base_url, llm.context_window) == (
        "llama3.2",
        DEFAULT_OLLAMA_URL,
        DEFAULT_CONTEXT_WINDOW,
    )
    assert built(settings(llm_model="a", ollama_model="b")).model == "b"
    # As a fallback, LLM_MODEL is the primary's model: OLLAMA_MODEL is needed.
    with pytest.raises(ConfigError):
        built(settings(llm_provider="openai", llm_model="gpt-4o-mini"))
    assert not llm.is_connected


def test_build_from_settings_talks_to_the_configured_url(server: FakeOllamaServer) -> None:
    llm = build_provider(
        settings(
            ollama_url=server.base_url + "/", ollama_model=DEFAULT_MODEL, llm_context_window=4096
        ),
        "ollama",
    )
    assert isinstance(llm, OllamaLLM)
    assert llm.complete(REQUEST).text
    assert server.chat_requests()[0].body["options"]["num_ctx"] == 4096


def test_a_url_without_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        OllamaLLM(base_url="localhost:11434", model="m")
