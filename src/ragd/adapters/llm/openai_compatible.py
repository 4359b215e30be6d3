"""LLM adapter for any server speaking OpenAI's Chat Completions API over HTTP.

One adapter covers OpenAI itself (``LLM_PROVIDER=openai``, base URL
``https://api.openai.com/v1``) and the servers that copy its wire format
(``LLM_PROVIDER=openai-compatible`` with ``LLM_BASE_URL``): vLLM (``http://host:8000/v1``),
LM Studio (``http://localhost:1234/v1``), Ollama (``http://localhost:11434/v1``), llama.cpp's
``llama-server``.

Why this shape:

* A plain ``httpx.Client`` rather than the ``openai`` SDK: ragd needs one endpoint, and
  the SDK's retries and its own exception tree would sit between the wire and the
  ``ragd.errors`` translation (retries belong to the caller, who knows the budget).
* Streaming reads the SSE ``data:`` events until ``data: [DONE]`` and asks for usage in
  the final chunk (``stream_options.include_usage``); a server that does not send usage
  gets an estimate (:func:`~ragd.adapters.llm.estimate.estimate_tokens`), as does
  :meth:`OpenAICompatibleLLM.count_tokens`, since the provider's tokenizer is not local.
* Nothing happens when the adapter is built: the HTTP client is created on first use.
* Prompts and the API key are never logged; the key is masked in error messages too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ragd import __version__
from ragd.adapters.llm.estimate import estimate_tokens
from ragd.adapters.llm.openai_wire import (
    WireError,
    error_code,
    error_detail,
    error_for_status,
    parse_chunk,
    parse_completion,
    parse_retry_after,
    request_body,
    sse_data,
)
from ragd.errors import BackendUnavailable, ConfigError, RagdError
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import Settings

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT_WINDOW = 8192
"""Used when ``LLM_CONTEXT_WINDOW`` is unset: small enough for every model these servers
commonly run, so the prompt builder never overflows one it does not know."""


class OpenAICompatibleLLM:
    """The ``LLM`` port over ``POST {base_url}/chat/completions``.

    Thread-safe: one pooled ``httpx.Client`` serves concurrent calls.

    Errors: ``ConfigError`` for 401/403 (key) and 404 (model or base URL);
    ``BackendUnavailable`` for 408/409/429/5xx, timeouts, connection failures and
    responses that do not follow the wire format; ``InvalidRequest`` for other 4xx (for
    example a prompt longer than the model's context).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        timeout: float = 60.0,
        provider: str = "openai-compatible",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"LLM_BASE_URL must be an http(s) URL, got {base_url!r}")
        if not model:
            raise ConfigError("LLM_MODEL is empty")
        if context_window < 1:
            raise ConfigError(f"LLM_CONTEXT_WINDOW must be positive, got {context_window}")
        if timeout <= 0:
            raise ConfigError(f"LLM_TIMEOUT_SECONDS must be positive, got {timeout}")
        self._base_url = base_url.rstrip("/")
        self._model = model
        self._api_key = api_key or None
        self._context_window = context_window
        self._timeout = timeout
        self._provider = provider
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None  # created on first use, under _lock

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleLLM(base_url={self._base_url!r}, model={self._model!r})"

    @property
    def model(self) -> str:
        return self._model

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def base_url(self) -> str:
        return self._base_url

    def count_tokens(self, text: str) -> int:
        """An estimate (see :mod:`ragd.adapters.llm.estimate`): the provider's tokenizer
        is not available locally."""
        return estimate_tokens(text)

    def complete(self, request: GenerationRequest) -> Completion:
        body = request_body(request, model=self._model, stream=False)
        started = time.perf_counter()
        try:
            response = self._http().post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if not response.is_success:
            raise self._status_error(response)
        try:
            text, finish, usage = parse_completion(response.json())
        except (ValueError, WireError) as exc:  # json.JSONDecodeError is a ValueError
            raise self._malformed(exc) from exc
        completion = Completion(
            text=text,
            model=self._model,
            usage=usage or self._estimated_usage(request, text),
            finish_reason=finish,
        )
        self._log_done(completion, started, streamed=False)
        return completion

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        """Deltas as the server sends them, then the ``Completion``.

        The HTTP response is read inside a ``with`` block of this generator, so closing
        the iterator early (``close()``, ``break`` out of a ``for``, garbage collection)
        closes the response and its connection, which stops generation on the server.
        """
        body = request_body(request, model=self._model, stream=True)
        started = time.perf_counter()
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        done = False
        try:
            with self._http().stream("POST", "/chat/completions", json=body) as response:
                if not response.is_success:
                    response.read()
                    raise self._status_error(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # The server ignored "stream": one whole completion, one delta.
                    response.read()
                    text, finish, usage = parse_completion(response.json())
                    parts.append(text)
                    done = True
                    if text:
                        yield text
                else:
                    for data in sse_data(response.iter_lines()):
                        if data.strip() == "[DONE]":
                            done = True
                            break
                        event = parse_chunk(json.loads(data))
                        usage = event.usage or usage
                        finish = event.finish_reason or finish
                        if event.delta:
                            parts.append(event.delta)
                            yield event.delta
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        except (ValueError, WireError) as exc:
            raise self._malformed(exc) from exc
        if not done and finish is None:
            raise BackendUnavailable(
                f"{self._provider} ended the stream before it finished (no [DONE])"
            )
        text = "".join(parts)
        completion = Completion(
            text=text,
            model=self._model,
            usage=usage or self._estimated_usage(request, text),
            finish_reason=finish or "stop",
        )
        self._log_done(completion, started, streamed=True)
        yield completion

    def close(self) -> None:
        """Close the connection pool; a later call opens a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- internals ---------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                headers = {"Accept": "application/json", "User-Agent": f"ragd/{__version__}"}
                if self._api_key is not None:
                    headers["Authorization"] = f"Bearer {self._api_key}"
                self._client = httpx.Client(
                    base_url=self._base_url,
                    headers=headers,
                    timeout=httpx.Timeout(self._timeout),
                    transport=self._transport,
                )
            return self._client

    def _estimated_usage(self, request: GenerationRequest, text: str) -> Usage:
        prompt = sum(estimate_tokens(m.content) + 4 for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text))

    def _status_error(self, response: httpx.Response) -> RagdError:
        payload: Any
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        error = error_for_status(
            response.status_code,
            error_detail(payload, self._api_key),
            provider=self._provider,
            code=error_code(payload),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
        logger.warning(
            "LLM call failed: provider=%s model=%s status=%d code=%s",
            self._provider,
            self._model,
            response.status_code,
            error_code(payload),
        )
        return error

    def _transport_error(self, exc: httpx.HTTPError) -> BackendUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            message = f"{self._provider} did not answer within {self._timeout:g}s"
        else:
            message = f"cannot reach {self._provider} at {self._base_url}: {type(exc).__name__}"
        logger.warning("LLM call failed: provider=%s %s", self._provider, type(exc).__name__)
        return BackendUnavailable(message)

    def _malformed(self, exc: Exception) -> BackendUnavailable:
        detail = error_detail(str(exc), self._api_key)
        return BackendUnavailable(f"{self._provider} sent a malformed response: {detail}")

    def _log_done(self, completion: Completion, started: float, *, streamed: bool) -> None:
        logger.debug(
            "LLM call done: provider=%s model=%s streamed=%s prompt_tokens=%d "
            "completion_tokens=%d finish=%s seconds=%.3f",
            self._provider,
            self._model,
            streamed,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            completion.finish_reason,
            time.perf_counter() - started,
        )


def build(settings: Settings) -> OpenAICompatibleLLM:
    """The adapter for ``LLM_PROVIDER=openai`` or ``openai-compatible``.

    ``openai`` defaults the base URL to OpenAI's and the model to ``gpt-4o-mini`` and needs
    ``OPENAI_API_KEY``; ``openai-compatible`` needs ``LLM_BASE_URL`` and ``LLM_MODEL``
    (the key is optional: local servers usually take none).

    Raises:
        ConfigError: a required setting is missing or invalid.
    """
    provider = settings.llm_provider
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if provider == "openai":
        base_url = settings.llm_base_url or OPENAI_BASE_URL
        model = settings.llm_model or DEFAULT_OPENAI_MODEL
        if not api_key and base_url.rstrip("/") == OPENAI_BASE_URL:
            raise ConfigError("LLM_PROVIDER=openai needs OPENAI_API_KEY")
    else:
        if not settings.llm_base_url:
            raise ConfigError(
                f"LLM_PROVIDER={provider} needs LLM_BASE_URL, e.g. http://localhost:11434/v1 "
                "(Ollama), http://localhost:8000/v1 (vLLM), http://localhost:1234/v1 (LM Studio)"
            )
        if not settings.llm_model:
            raise ConfigError(f"LLM_PROVIDER={provider} needs LLM_MODEL (the served model name)")
        base_url, model = settings.llm_base_url, settings.llm_model
    return OpenAICompatibleLLM(
        base_url=base_url,
        model=model,
        api_key=api_key,
        context_window=settings.llm_context_window or DEFAULT_CONTEXT_WINDOW,
        timeout=settings.llm_timeout_seconds,
        provider="openai" if provider == "openai" else "openai-compatible",
    )
