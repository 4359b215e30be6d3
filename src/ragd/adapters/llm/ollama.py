"""LLM adapter for Ollama's native chat API (``LLM_PROVIDER=ollama``).

``POST {OLLAMA_URL}/api/chat`` with ``{"model", "messages", "stream", "options"}``. A
whole answer is one JSON object; a streamed one is newline-delimited JSON, one object per
line with ``message.content``, the last with ``"done": true``, ``done_reason`` and the
token counts ``prompt_eval_count`` / ``eval_count``. Errors are ``{"error": "..."}``, as
the body of a failed request or as a line inside a stream.

Why the native API rather than Ollama's OpenAI-compatible ``/v1`` (which the
``openai-compatible`` provider already speaks): the native API takes ``num_ctx``. Ollama
runs a model with a small default context (2048 or 4096 tokens, by version) and silently
drops the start of a longer prompt, which would cut the passages out of a RAG prompt;
this adapter sends ``options.num_ctx = LLM_CONTEXT_WINDOW`` (default 8192) so the window
the prompt builder fills is the window the model gets.

Errors follow the map every remote adapter shares (:mod:`ragd.adapters.http.errors`):
404 (model not pulled) and 401/403 are ``ConfigError``; 429, 5xx, timeouts
(including a model that takes longer than ``LLM_TIMEOUT_SECONDS`` to load), connection
failures and malformed answers are ``BackendUnavailable``; other 4xx ``InvalidRequest``.
Ollama has no tokenizer endpoint, so ``count_tokens`` is an estimate, as is usage where
Ollama leaves a count out (``prompt_eval_count`` is missing when the prompt was cached).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.http.client import ProviderHTTP
from ragd.adapters.http.errors import WireError, error_for_status
from ragd.adapters.llm.remote import RemoteLLM
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings, ProviderSettings

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_CONTEXT_WINDOW = 8192


def chat_body(
    request: GenerationRequest, *, model: str, context_window: int, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat`` for ``request``.

    Raises:
        InvalidRequest: the request has no messages.
    """
    if not request.messages:
        raise InvalidRequest("a generation request needs at least one chat message")
    options: dict[str, Any] = {
        "temperature": request.temperature,
        "num_predict": request.max_tokens,
        "num_ctx": context_window,
    }
    if request.stop:
        options["stop"] = list(request.stop)
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": stream,
        "options": options,
    }
    if request.json_output:
        body["format"] = "json"
    return body


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_line(payload: object) -> tuple[str, bool, str | None, int | None, int | None]:
    """``(text, done, done_reason, prompt_tokens, completion_tokens)`` of one chat object
    (a whole answer or one line of a stream).

    Raises:
        WireError: not a chat object.
        RagdError: an ``{"error": ...}`` object.
    """
    if not isinstance(payload, Mapping):
        raise WireError(f"expected a JSON object, got {type(payload).__name__}")
    if "error" in payload:
        raise _error_line(payload)
    message = payload.get("message")
    content: object = ""
    if message is not None:
        if not isinstance(message, Mapping):
            raise WireError("'message' is not an object")
        content = message.get("content", "")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise WireError(f"message content is {type(content).__name__}, not text")
    done = payload.get("done")
    if not isinstance(done, bool):
        raise WireError("the object has no 'done' flag")
    reason = payload.get("done_reason")
    return (
        content,
        done,
        reason if isinstance(reason, str) else None,
        _count(payload.get("prompt_eval_count")),
        _count(payload.get("eval_count")),
    )


def _error_line(payload: Mapping[str, Any]) -> RagdError:
    return error_for_status(
        500,
        str(payload.get("error")),
        provider="ollama",
        key_hint="OLLAMA_URL",
        model_hint="OLLAMA_MODEL",
    )


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


class OllamaLLM(RemoteLLM):
    """The ``LLM`` port over Ollama's ``POST /api/chat``. Thread-safe."""

    def __init__(
        self,
        *,
        model: str,
        base_url: str = DEFAULT_OLLAMA_URL,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError("LLM provider ollama needs OLLAMA_MODEL (or LLM_MODEL)")
        http = ProviderHTTP(
            provider="ollama",
            base_url=base_url,
            timeout=timeout,
            key_hint="OLLAMA_URL (a proxy in front of Ollama refused the request)",
            model_hint=f"OLLAMA_MODEL (is it pulled? ollama pull {model}) and OLLAMA_URL",
            url_hint="OLLAMA_URL",
            timeout_hint="LLM_TIMEOUT_SECONDS",
            transport=transport,
        )
        super().__init__(http=http, model=model, context_window=context_window)

    @property
    def context_window(self) -> int:
        """``num_ctx`` sent with every request."""
        return self._context_window

    def complete(self, request: GenerationRequest) -> Completion:
        body = self._body(request, stream=False)
        started = time.perf_counter()
        payload = self._http.post_json("/api/chat", body)
        try:
            text, done, reason, prompt, output = parse_line(payload)
        except WireError as exc:
            raise self._http.malformed(exc) from exc
        if not done:
            raise self._http.malformed("a whole answer with done=false")
        return self._completion(request, text, (reason, prompt, output), started, streamed=False)

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        """Deltas line by line, then the ``Completion``. Closing the iterator early closes
        the HTTP response, which makes Ollama stop generating."""
        body = self._body(request, stream=True)
        started = time.perf_counter()
        parts: list[str] = []
        final: tuple[str | None, int | None, int | None] | None = None
        with self._http.stream("/api/chat", body) as response:
            for line in response.iter_lines():
                if not line.strip():
                    continue
                text, done, reason, prompt, output = parse_line(json.loads(line))
                if text:
                    parts.append(text)
                    yield text
                if done:
                    final = (reason, prompt, output)
                    break
        if final is None:
            raise BackendUnavailable("ollama ended the stream before its done line")
        yield self._completion(request, "".join(parts), final, started, streamed=True)

    # -- internals ---------------------------------------------------------------------

    def _body(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        return chat_body(
            request, model=self._model, context_window=self._context_window, stream=stream
        )

    def _completion(
        self,
        request: GenerationRequest,
        text: str,
        final: tuple[str | None, int | None, int | None],
        started: float,
        *,
        streamed: bool,
    ) -> Completion:
        """From the done line's ``(done_reason, prompt_eval_count, eval_count)``; a count
        Ollama left out is estimated on its own."""
        reason, prompt, output = final
        estimated = self._estimated_usage(request, text)
        usage = Usage(
            prompt_tokens=estimated.prompt_tokens if prompt is None else prompt,
            completion_tokens=estimated.completion_tokens if output is None else output,
        )
        return self._done(request, text, _finish(reason), usage, started, streamed=streamed)


def build(llm: LLMSettings, providers: ProviderSettings) -> OllamaLLM:
    """The adapter for ``LLM_PROVIDER=ollama`` (or ``ollama`` in the fallback chain).

    The model is ``OLLAMA_MODEL``, else ``LLM_MODEL`` when Ollama is the primary
    provider (in a fallback chain ``LLM_MODEL`` names the primary's model). The server is
    ``OLLAMA_URL``, the one the Ollama embedder uses too.

    Raises:
        ConfigError: no model named.
    """
    primary_model = llm.model if llm.provider == "ollama" else None
    model = llm.ollama_model or primary_model
    if not model:
        raise ConfigError("LLM provider ollama needs OLLAMA_MODEL (or LLM_MODEL), e.g. llama3.2")
    return OllamaLLM(
        model=model,
        base_url=providers.ollama_url,
        context_window=llm.context_window or DEFAULT_CONTEXT_WINDOW,
        timeout=llm.timeout_seconds,
    )
