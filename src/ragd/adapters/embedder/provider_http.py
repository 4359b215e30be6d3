"""HTTP plumbing shared by the remote provider adapters (embedders, rerankers, and the
Anthropic and Ollama LLM adapters): one lazily created, pooled ``httpx.Client`` per
adapter, and the translation of HTTP failures into ``ragd.errors``.

Why this shape:

* Plain ``httpx`` rather than each provider's SDK: ragd calls one or two endpoints per
  provider, and the SDKs' own retries and exception trees would sit between the wire and
  the translation into ``ragd.errors`` (retries belong to the caller, who knows the
  budget). The same reasoning as ``ragd.adapters.llm.openai_compatible``.
* Nothing happens when an adapter is built: the client is created on first use, under a
  lock, so adapters are thread-safe and cheap to build.
* API keys are sent in headers and never logged; a provider's error message is quoted
  with the key masked (some providers echo the key they received).

The status mapping is the one every provider here documents: 401/403 are the key, 404
the model or URL (all ``ConfigError``); 408, 409, 425, 429, 5xx and 529 (Anthropic's
"overloaded") are worth retrying (``BackendUnavailable``); other 4xx are the request's
fault (``InvalidRequest``).

This module would sit better at ``ragd/adapters/http.py`` (the LLM and reranker adapters
import it too); it lives here because the embedder package was the first to need it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

import httpx

from ragd import __version__
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError

logger = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 300
"""Provider error messages are quoted in ours up to this length."""

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
QUOTA_CODES = frozenset({"insufficient_quota", "billing_error", "insufficient_balance"})
"""Error codes of a 429 (or 402) that no retry fixes: the account is out of money."""


class WireError(ValueError):
    """A response that does not follow the provider's wire format."""


def error_detail(payload: object, secret: str | None = None) -> str:
    """A provider's error message, short, on one line, with ``secret`` masked.

    Reads OpenAI's ``{"error": {"message", "type", "code"}}``, Anthropic's
    ``{"type": "error", "error": {"type", "message"}}``, Ollama's ``{"error": "..."}``,
    Jina's (FastAPI) ``{"detail": "..." | [...]}`` and Cohere's ``{"message": "..."}``;
    anything else is quoted as text.
    """
    text: str
    if isinstance(payload, Mapping):
        error = payload.get("error", payload.get("detail", payload))
        if isinstance(error, Mapping):
            message = error.get("message", error.get("detail"))
            code = error_code(payload)
            text = str(message) if message is not None else json.dumps(error, default=str)
            if code and code not in text:
                text = f"{code}: {text}"
        elif isinstance(error, list):  # FastAPI validation errors
            text = "; ".join(
                str(item.get("msg", item)) if isinstance(item, Mapping) else str(item)
                for item in error
            )
        else:
            text = str(error)
    else:
        text = str(payload)
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1] + "…"
    return text


def error_code(payload: object) -> str | None:
    """The machine code of an error body (``rate_limit_exceeded``, ``overloaded_error``…)."""
    if not isinstance(payload, Mapping):
        return None
    error = payload.get("error")
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("type")
        return code if isinstance(code, str) and code else None
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; ``None`` otherwise."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: quoted in no message, not worth a date parser
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str,
    key_hint: str,
    model_hint: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> RagdError:
    """The ``ragd.errors`` type for an HTTP failure of ``provider``.

    ``key_hint`` and ``model_hint`` name the settings to check (``ANTHROPIC_API_KEY``,
    ``EMBEDDING_MODEL and EMBEDDING_BASE_URL``…) in configuration errors.
    """
    where = f"{provider} answered HTTP {status}"
    if status in (401, 403):
        return ConfigError(f"{where} (check {key_hint}): {detail}")
    if status == 404:
        return ConfigError(f"{where} (check {model_hint}): {detail}")
    if status == 402 or (status == 429 and code in QUOTA_CODES):
        return ConfigError(f"{where} (quota or credit exhausted; check the account): {detail}")
    if status in RETRYABLE_STATUSES or status >= 500:
        hint = f", retry after {retry_after:g}s" if retry_after is not None else ""
        return BackendUnavailable(f"{where}{hint}: {detail}")
    if 400 <= status < 500:
        return InvalidRequest(f"{where}: {detail}")
    return BackendUnavailable(f"{where} (unexpected status): {detail}")


class ProviderHTTP:
    """One provider's base URL, headers and timeout, behind a lazily created client.

    Args:
        provider: the name used in messages and logs (``jina``, ``anthropic``…).
        base_url: the URL that request paths are relative to.
        headers: sent with every request (keys included; never logged).
        secret: the API key, masked wherever a provider message is quoted.
        timeout: seconds for connecting, and between bytes of the answer.
        key_hint: the setting to check on 401/403.
        model_hint: the settings to check on 404.
        transport: an ``httpx`` transport for tests; ``None`` for the network.

    Raises:
        ConfigError: ``base_url`` is not an http(s) URL or ``timeout`` is not positive.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secret: str | None = None,
        timeout: float = 30.0,
        key_hint: str = "the API key",
        model_hint: str = "the model name and base URL",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{provider}: the base URL must be an http(s) URL, got {base_url!r}")
        if timeout <= 0:
            raise ConfigError(f"{provider}: the timeout must be positive, got {timeout}")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"ragd/{__version__}",
            **(headers or {}),
        }
        self._secret = secret or None
        self._key_hint = key_hint
        self._model_hint = model_hint
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None  # created on first use, under _lock

    def __repr__(self) -> str:  # never the headers: they hold the key
        return f"ProviderHTTP(provider={self.provider!r}, base_url={self.base_url!r})"

    @property
    def is_open(self) -> bool:
        """Whether the client exists (a request was made and not closed since)."""
        return self._client is not None

    def client(self) -> httpx.Client:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url,
                    headers=self._headers,
                    timeout=httpx.Timeout(self.timeout),
                    transport=self._transport,
                )
            return self._client

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON and return the parsed JSON answer.

        Raises:
            ConfigError, InvalidRequest, BackendUnavailable: as :func:`error_for_status`;
                timeouts, connection failures and answers that are not JSON are
                ``BackendUnavailable``.
        """
        try:
            response = self.client().post(path, json=body)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from exc
        if not response.is_success:
            raise self.status_error(response)
        try:
            return response.json()
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
            raise self.malformed(exc) from exc

    def status_error(self, response: httpx.Response) -> RagdError:
        """The error for a non-2xx ``response`` (its body must have been read)."""
        payload: Any
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        code = error_code(payload)
        detail = error_detail(payload, self._secret)
        request_id = response.headers.get("request-id") or response.headers.get("x-request-id")
        if request_id:
            detail = f"{detail} (request id {request_id})"
        logger.warning(
            "provider call failed: provider=%s status=%d code=%s",
            self.provider,
            response.status_code,
            code,
        )
        return error_for_status(
            response.status_code,
            detail,
            provider=self.provider,
            key_hint=self._key_hint,
            model_hint=self._model_hint,
            code=code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def transport_error(self, exc: httpx.HTTPError) -> BackendUnavailable:
        if isinstance(exc, httpx.TimeoutException):
            message = f"{self.provider} did not answer within {self.timeout:g}s"
        else:
            message = f"cannot reach {self.provider} at {self.base_url}: {type(exc).__name__}"
        logger.warning("provider call failed: provider=%s %s", self.provider, type(exc).__name__)
        return BackendUnavailable(message)

    def malformed(self, exc: Exception | str) -> BackendUnavailable:
        detail = error_detail(str(exc), self._secret)
        return BackendUnavailable(f"{self.provider} sent a malformed response: {detail}")

    def mask(self, text: str) -> str:
        return error_detail(text, self._secret)

    def close(self) -> None:
        """Close the connection pool; a later call opens a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
