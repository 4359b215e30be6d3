"""LLM adapter for any server speaking OpenAI's Chat Completions API over HTTP.

One adapter covers OpenAI itself (``LLM_PROVIDER=openai``, base URL
``https://api.openai.com/v1``) and the servers that copy its wire format
(``LLM_PROVIDER=openai-compatible`` with ``LLM_BASE_URL``): vLLM (``http://host:8000/v1``),
LM Studio (``http://localhost:1234/v1``), Ollama (``http://localhost:11434/v1``), llama.cpp's
``llama-server``.

Why this shape:

* Plain ``httpx`` rather than the ``openai`` SDK: ragd needs one endpoint, and the SDK's
  retries and its own exception tree would sit between the wire and the ``ragd.errors``
  translation (retries belong to the caller, who knows the budget).
* Streaming reads the SSE ``data:`` events until ``data: [DONE]`` and asks for usage in
  the final chunk (``stream_options.include_usage``); a server that does not send usage
  gets an estimate (:func:`~ragd.adapters.llm.estimate.estimate_tokens`), as does
  :meth:`OpenAICompatibleLLM.count_tokens`, since the provider's tokenizer is not local.
* The connection, the error map and the key masking are the shared HTTP layer's
  (:mod:`ragd.adapters.http`): nothing happens when the adapter is built, the client is
  created on first use; prompts and the API key are never logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from ragd.adapters.http.client import ProviderHTTP, bearer
from ragd.adapters.http.sse import sse_data
from ragd.adapters.llm.openai_wire import parse_chunk, parse_completion, request_body
from ragd.adapters.llm.remote import RemoteLLM
from ragd.errors import BackendUnavailable, ConfigError
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings, ProviderSettings

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT_WINDOW = 8192
"""Used when ``LLM_CONTEXT_WINDOW`` is unset: small enough for every model these servers
commonly run, so the prompt builder never overflows one it does not know."""


class OpenAICompatibleLLM(RemoteLLM):
    """The ``LLM`` port over ``POST {base_url}/chat/completions``.

    Thread-safe: one pooled ``httpx.Client`` serves concurrent calls.

    Errors: as every remote adapter (:mod:`ragd.adapters.http.errors`): ``ConfigError``
    for 401/402/403 (key, account) and 404 (model or base URL); ``BackendUnavailable``
    for 408/409/425/429/5xx, timeouts, connection failures and responses that do not
    follow the wire format; ``InvalidRequest`` for other 4xx (for example a prompt longer
    than the model's context).
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
        if not model:
            raise ConfigError("LLM_MODEL is empty")
        http = ProviderHTTP(
            provider=provider,
            base_url=base_url,
            headers=bearer(api_key),
            secret=api_key,
            timeout=timeout,
            key_hint="the API key, OPENAI_API_KEY",
            model_hint="LLM_MODEL and LLM_BASE_URL",
            url_hint="LLM_BASE_URL",
            timeout_hint="LLM_TIMEOUT_SECONDS",
            transport=transport,
        )
        super().__init__(http=http, model=model, context_window=context_window)

    def complete(self, request: GenerationRequest) -> Completion:
        body = request_body(request, model=self._model, stream=False)
        return self._complete(request, "/chat/completions", body, parse_completion)

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
        with self._http.stream("/chat/completions", body) as response:
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
        if not done and finish is None:
            raise BackendUnavailable(
                f"{self.provider} ended the stream before it finished (no [DONE])"
            )
        yield self._done(request, "".join(parts), finish or "stop", usage, started, streamed=True)


def build(llm: LLMSettings, providers: ProviderSettings) -> OpenAICompatibleLLM:
    """The adapter for OpenAI itself (``LLM_PROVIDER=openai``, or ``openai`` in
    ``RAGD_LLM_FALLBACK``): the base URL defaults to OpenAI's, the model to ``gpt-4o-mini``,
    and ``OPENAI_API_KEY`` (the account's, shared with OpenAI's embedder) is required.

    Raises:
        ConfigError: a required setting is missing or invalid.
    """
    api_key = _api_key(providers)
    base_url = llm.base_url or OPENAI_BASE_URL
    if not api_key and base_url.rstrip("/") == OPENAI_BASE_URL:
        raise ConfigError("LLM_PROVIDER=openai needs OPENAI_API_KEY")
    return _adapter(llm, "openai", base_url, llm.model or DEFAULT_OPENAI_MODEL, api_key)


def build_compatible(llm: LLMSettings, providers: ProviderSettings) -> OpenAICompatibleLLM:
    """The adapter for a server that copies OpenAI's API (``openai-compatible``: vLLM,
    LM Studio, LiteLLM, Ollama's ``/v1``): ``LLM_BASE_URL`` and ``LLM_MODEL`` are required,
    the key is optional (local servers usually take none).

    The registry calls it by the name it was chosen under, so a provider named in the
    fallback chain is built as itself, whatever ``LLM_PROVIDER`` is.

    Raises:
        ConfigError: a required setting is missing or invalid.
    """
    if not llm.base_url:
        raise ConfigError(
            "LLM_PROVIDER=openai-compatible needs LLM_BASE_URL, e.g. http://localhost:11434/v1 "
            "(Ollama), http://localhost:8000/v1 (vLLM), http://localhost:1234/v1 (LM Studio)"
        )
    if not llm.model:
        raise ConfigError("LLM_PROVIDER=openai-compatible needs LLM_MODEL (the served model name)")
    return _adapter(llm, "openai-compatible", llm.base_url, llm.model, _api_key(providers))


def _api_key(providers: ProviderSettings) -> str | None:
    return providers.openai_api_key.get_secret_value() if providers.openai_api_key else None


def _adapter(
    llm: LLMSettings, provider: str, base_url: str, model: str, api_key: str | None
) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        base_url=base_url,
        model=model,
        api_key=api_key,
        context_window=llm.context_window or DEFAULT_CONTEXT_WINDOW,
        timeout=llm.timeout_seconds,
        provider=provider,
    )
