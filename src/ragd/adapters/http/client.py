"""One provider's HTTP connection: a lazily created, pooled ``httpx.Client``, and the
translation of what goes wrong on the wire into ``ragd.errors``.

Why this shape:

* Plain ``httpx`` rather than each provider's SDK: ragd calls one or two endpoints per
  provider, and the SDKs' own retries and exception trees would sit between the wire and
  the translation into ``ragd.errors`` (retries belong to the caller, who knows the
  budget: ``ragd.services.resilience``).
* Nothing happens when an adapter is built: the client is created on first use, under a
  lock, so adapters are thread-safe and cheap to build; :meth:`ProviderHTTP.close` drops
  it and a later call opens a new one.
* API keys are sent in headers and never logged; a provider's error message is quoted
  with the key masked (some providers echo the key they received).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from ragd import __version__
from ragd.adapters.http.errors import (
    error_code,
    error_detail,
    error_for_status,
    parse_retry_after,
)
from ragd.errors import BackendUnavailable, ConfigError, RagdError

logger = logging.getLogger(__name__)


def secret(value: Any) -> str | None:
    """The value of a ``SecretStr`` setting, ``None`` when unset or empty."""
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def bearer(api_key: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``api_key``; none without a key (local servers)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


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
        url_hint: the setting that holds ``base_url``, named when it is not a URL.
        timeout_hint: the setting that holds ``timeout``, named when it is not positive.
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
        url_hint: str = "the base URL",
        timeout_hint: str = "the timeout",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{provider}: {url_hint} must be an http(s) URL, got {base_url!r}")
        if timeout <= 0:
            raise ConfigError(f"{provider}: {timeout_hint} must be positive, got {timeout}")
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

    def close(self) -> None:
        """Close the connection pool; a later call opens a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON and return the parsed JSON answer.

        Raises:
            ConfigError, InvalidRequest, BackendUnavailable: as
                :func:`~ragd.adapters.http.errors.error_for_status`; timeouts, connection
                failures and answers that are not JSON are ``BackendUnavailable``.
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

    @contextmanager
    def stream(self, path: str, body: Mapping[str, Any]) -> Iterator[httpx.Response]:
        """POST ``body`` and hand over the successful response while it streams.

        Failures inside the ``with`` block are translated as :meth:`post_json` does:
        ``httpx`` errors are transport errors, ``ValueError`` (bad JSON) and ``WireError``
        make the answer malformed; ``RagdError`` passes unchanged. Leaving the block
        early (a consumer that closes its generator) closes the response, which stops
        generation on the server.
        """
        try:
            with self.client().stream("POST", path, json=body) as response:
                if not response.is_success:
                    response.read()
                    raise self.status_error(response)
                yield response
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from exc
        except ValueError as exc:  # WireError, json.JSONDecodeError
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
        return self.error(
            response.status_code,
            detail,
            code=code,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def error(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> RagdError:
        """:func:`~ragd.adapters.http.errors.error_for_status` with this provider's hints
        (for errors that arrive inside an answer, without an HTTP status of their own)."""
        return error_for_status(
            status,
            detail,
            provider=self.provider,
            key_hint=self._key_hint,
            model_hint=self._model_hint,
            code=code,
            retry_after=retry_after,
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
