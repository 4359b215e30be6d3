"""LLM adapter for Anthropic's Messages API (``LLM_PROVIDER=anthropic``).

``POST {ANTHROPIC_BASE_URL}/v1/messages`` with ``x-api-key`` and ``anthropic-version``;
system messages go into the top-level ``system`` field, the other turns into
``messages`` (consecutive turns of one role merged, as the API wants them alternating).
Streaming reads the server-sent events ``message_start`` (input tokens),
``content_block_delta`` (``text_delta``), ``message_delta`` (stop reason, output tokens)
and ``message_stop``; an ``error`` event inside the stream is translated like an HTTP
error.

Why httpx and not the ``anthropic`` SDK: the same reasons as the OpenAI-compatible
adapter. ragd needs one endpoint; the SDK retries on its own (``max_retries=2`` by
default, on 429/5xx/529) underneath ragd's resilience layer, which already retries with
a deadline and counts failures for the circuit breaker, and it raises its own exception
tree that would need translating anyway. It would also be one more dependency.

Errors follow the map every remote adapter shares (:mod:`ragd.adapters.http.errors`):
401/403/404 (key, model) and 402 (billing) are ``ConfigError``; 429 (with
``retry-after``), 500, 529 (``overloaded_error``), timeouts, connection failures and
malformed answers are ``BackendUnavailable``; other 4xx are ``InvalidRequest``.
Prompts and the key are never logged.

Notes: ``temperature`` is capped at 1.0 (Anthropic's maximum); stop sequences made only
of whitespace are not sent (the API refuses them). ``count_tokens`` is an estimate:
Claude's tokenizer is not available locally (the API's ``count_tokens`` endpoint would
cost a round trip per call).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.http.client import ProviderHTTP
from ragd.adapters.http.errors import WireError, error_for_status
from ragd.adapters.http.sse import sse_data
from ragd.adapters.llm.remote import RemoteLLM
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings, ProviderSettings

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
DEFAULT_CONTEXT_WINDOW = 200_000
MAX_TEMPERATURE = 1.0

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""HTTP status of each error type, for errors that arrive inside a stream."""


def messages_body(request: GenerationRequest, *, model: str, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``request``.

    Raises:
        InvalidRequest: no messages, or only system messages.
    """
    if not request.messages:
        raise InvalidRequest("a generation request needs at least one chat message")
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns:
        raise InvalidRequest("Anthropic needs at least one user message besides the system")
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": turns,
        "temperature": min(request.temperature, MAX_TEMPERATURE),
        "stream": stream,
    }
    if system:
        body["system"] = system
    stops = [s for s in request.stop if s.strip()]
    if stops:
        body["stop_sequences"] = stops
    return body


def parse_usage(value: object) -> tuple[int | None, int | None]:
    """``(input, output)`` tokens of a ``usage`` object; input includes cache reads and
    writes (all of it is prompt the model read). ``None`` where absent."""
    if not isinstance(value, Mapping):
        return None, None
    counts = {k: v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    prompt = sum(counts.get(k, 0) for k in keys) if "input_tokens" in counts else None
    return prompt, counts.get("output_tokens")


def parse_message(payload: object) -> tuple[str, str, Usage | None]:
    """``(text, finish_reason, usage)`` of a ``message`` object (text blocks joined).

    Raises:
        WireError: not a message with a ``content`` list.
    """
    if not isinstance(payload, Mapping):
        raise WireError(f"expected a JSON object, got {type(payload).__name__}")
    content = payload.get("content")
    if not isinstance(content, list):
        raise WireError("the message has no content list")
    parts: list[str] = []
    for block in content:
        if not isinstance(block, Mapping):
            raise WireError("a content block is not an object")
        if block.get("type") == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise WireError("a text block has no text")
            parts.append(text)
    prompt, output = parse_usage(payload.get("usage"))
    usage = None if prompt is None or output is None else Usage(prompt, output)
    return "".join(parts), finish_reason(payload.get("stop_reason")), usage


def finish_reason(stop_reason: object) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


@dataclass
class StreamState:
    """What the events of one stream have said so far."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    stop_reason: str | None = None
    stopped: bool = False

    def feed(self, event: object, *, provider: str = "anthropic") -> str:
        """Take one event; return its text delta ("" for events without text).

        Raises:
            WireError: the event is not an object with a type, or a delta is not text.
            RagdError: an ``error`` event.
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise WireError("an event without a type")
        kind = event["type"]
        if kind == "error":
            raise stream_error(event, provider=provider)
        if kind == "message_start":
            message = event.get("message")
            usage = message.get("usage") if isinstance(message, Mapping) else None
            self._count(usage)
        elif kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if not isinstance(text, str):
                    raise WireError("a text_delta without text")
                return text
        elif kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            self._count(event.get("usage"))
        elif kind == "message_stop":
            self.stopped = True
        return ""  # ping, content_block_start/stop, thinking and tool deltas

    def usage(self) -> Usage | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return Usage(self.prompt_tokens, self.completion_tokens)

    def _count(self, usage: object) -> None:
        prompt, output = parse_usage(usage)
        # message_delta's counts are cumulative: the last one wins
        self.prompt_tokens = prompt if prompt is not None else self.prompt_tokens
        self.completion_tokens = output if output is not None else self.completion_tokens


def stream_error(event: Mapping[str, Any], *, provider: str) -> RagdError:
    """The error for an ``error`` event inside a stream (no HTTP status to go by)."""
    error = event.get("error")
    kind = error.get("type") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    status = ERROR_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    return error_for_status(
        status,
        f"{kind}: {message}",
        provider=provider,
        key_hint="ANTHROPIC_API_KEY",
        model_hint="LLM_MODEL / ANTHROPIC_MODEL",
        code=kind if isinstance(kind, str) else None,
    )


class AnthropicLLM(RemoteLLM):
    """The ``LLM`` port over Anthropic's ``POST /v1/messages``. Thread-safe."""

    def __init__(
        self,
        *,
        model: str = DEFAULT_ANTHROPIC_MODEL,
        api_key: str | None = None,
        base_url: str = ANTHROPIC_BASE_URL,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError("the Anthropic model name is empty")
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        http = ProviderHTTP(
            provider="anthropic",
            base_url=base_url,
            headers=headers,
            secret=api_key,
            timeout=timeout,
            key_hint="ANTHROPIC_API_KEY",
            model_hint="LLM_MODEL / ANTHROPIC_MODEL and ANTHROPIC_BASE_URL",
            url_hint="ANTHROPIC_BASE_URL",
            timeout_hint="LLM_TIMEOUT_SECONDS",
            transport=transport,
        )
        super().__init__(http=http, model=model, context_window=context_window)

    def complete(self, request: GenerationRequest) -> Completion:
        body = messages_body(request, model=self._model, stream=False)
        return self._complete(request, "/v1/messages", body, parse_message)

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        """Deltas as the server sends them, then the ``Completion``. Closing the iterator
        early closes the HTTP response, which stops generation on the server."""
        body = messages_body(request, model=self._model, stream=True)
        started = time.perf_counter()
        parts: list[str] = []
        state = StreamState()
        whole_finish: str | None = None
        with self._http.stream("/v1/messages", body) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                response.read()  # a proxy that ignored "stream": one whole message
                text, whole_finish, usage = parse_message(response.json())
                state.stopped = True
                parts.append(text)
                if usage is not None:
                    state.prompt_tokens = usage.prompt_tokens
                    state.completion_tokens = usage.completion_tokens
                if text:
                    yield text
            else:
                for data in sse_data(response.iter_lines()):
                    delta = state.feed(json.loads(data))
                    if delta:
                        parts.append(delta)
                        yield delta
                    if state.stopped:
                        break
        if not state.stopped:
            raise BackendUnavailable("anthropic ended the stream before message_stop")
        finish = whole_finish or finish_reason(state.stop_reason)
        yield self._done(request, "".join(parts), finish, state.usage(), started, streamed=True)


def build(llm: LLMSettings, providers: ProviderSettings) -> AnthropicLLM:
    """The adapter for ``LLM_PROVIDER=anthropic`` (or ``anthropic`` in the fallback chain).

    The model is ``ANTHROPIC_MODEL``, else ``LLM_MODEL`` when Anthropic is the primary
    provider (in a fallback chain ``LLM_MODEL`` names the primary's model), else
    ``claude-haiku-4-5``. ``ANTHROPIC_BASE_URL`` points it at a proxy or gateway; the key
    is the account's ``ANTHROPIC_API_KEY``.

    Raises:
        ConfigError: no ``ANTHROPIC_API_KEY`` for Anthropic's own URL.
    """
    api_key = (
        providers.anthropic_api_key.get_secret_value() if providers.anthropic_api_key else None
    )
    base_url = llm.anthropic_base_url or ANTHROPIC_BASE_URL
    if not api_key and base_url.rstrip("/") == ANTHROPIC_BASE_URL:
        raise ConfigError("LLM provider anthropic needs ANTHROPIC_API_KEY")
    primary_model = llm.model if llm.provider == "anthropic" else None
    return AnthropicLLM(
        model=llm.anthropic_model or primary_model or DEFAULT_ANTHROPIC_MODEL,
        api_key=api_key,
        base_url=base_url,
        context_window=llm.context_window or DEFAULT_CONTEXT_WINDOW,
        timeout=llm.timeout_seconds,
    )
