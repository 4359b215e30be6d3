"""The one translation of a model provider's HTTP failure into ``ragd.errors``.

Every remote adapter (embedders, LLMs, rerankers) goes through :func:`error_for_status`,
so the same status from any provider is the same error type with the same retry
decision (``exc.retryable``): the resilience layer, the ingestion worker and the API
decide from the type alone, whoever made the call.

The map, by status:

=====================  ==================  ==========================================
status                 type                why
=====================  ==================  ==========================================
401, 403               ``ConfigError``     the key is missing, wrong or lacks rights
402                    ``ConfigError``     payment required: the account is out of
                                           credit. The operator must fix the account;
                                           the request is not at fault and no retry
                                           helps, so neither ``InvalidRequest`` nor
                                           retryable
404                    ``ConfigError``     the model name or the base URL is wrong
429 + quota code       ``ConfigError``     ``insufficient_quota`` and the like: the
                                           same as 402, said with a 429
408, 409, 425, 429     ``ProviderUnavailable``  worth retrying: a timeout, a conflict
                                           with a concurrent change, 425 Too Early
                                           (the server will not risk replaying a
                                           request yet; RFC 8470 says the client
                                           should retry), a rate limit
5xx (529 included)     ``ProviderUnavailable``  the provider's fault (529: Anthropic's
                                           "overloaded")
other 4xx              ``InvalidRequest``  the request's fault: a prompt longer than
                                           the context, a bad parameter (400, 413, 422)
anything else          ``ProviderUnavailable``  an unexpected status (a redirect that was
                                           not followed): retryable, as a broken
                                           proxy in between would be
=====================  ==================  ==========================================

``ProviderUnavailable`` is a ``BackendUnavailable`` (same ``code``, retryable) that also
carries the HTTP status and the provider's ``Retry-After`` in seconds, when it sent one.
Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Literal

from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError

MAX_DETAIL_CHARS = 300
"""Provider error messages are quoted in ours up to this length."""

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
"""4xx statuses worth retrying; every 5xx is too."""
QUOTA_CODES = frozenset({"insufficient_quota", "billing_error", "insufficient_balance"})
"""Error codes of a 429 (or 402) that no retry fixes: the account is out of money."""

Verdict = Literal["key", "account", "model", "retry", "request", "unexpected"]


class WireError(ValueError):
    """A response that does not follow the provider's wire format (the caller says whose)."""


class ProviderUnavailable(BackendUnavailable):
    """A provider answered with a status worth retrying (429, 5xx…).

    Attributes:
        status: the HTTP status it answered with.
        retry_after_seconds: its ``Retry-After`` in seconds; ``None`` when it sent none
            (or an HTTP date).
    """

    def __init__(
        self, message: str, *, status: int, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_seconds = retry_after_seconds


def verdict(status: int, code: str | None = None) -> Verdict:
    """What an HTTP ``status`` (with the error body's ``code``) says went wrong."""
    if status in (401, 403):
        return "key"
    if status == 402 or (status == 429 and code in QUOTA_CODES):
        return "account"
    if status == 404:
        return "model"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retry"
    if 400 <= status < 500:
        return "request"
    return "unexpected"


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str,
    key_hint: str = "the API key",
    model_hint: str = "the model name and base URL",
    code: str | None = None,
    retry_after: float | None = None,
) -> RagdError:
    """The ``ragd.errors`` type for an HTTP failure of ``provider`` (the map above).

    ``key_hint`` and ``model_hint`` name the settings to check (``ANTHROPIC_API_KEY``,
    ``EMBEDDING_MODEL and EMBEDDING_BASE_URL``…) in configuration errors.
    """
    where = f"{provider} answered HTTP {status}"
    match verdict(status, code):
        case "key":
            return ConfigError(f"{where} (check {key_hint}): {detail}")
        case "account":
            return ConfigError(f"{where} (quota or credit exhausted; check the account): {detail}")
        case "model":
            return ConfigError(f"{where} (check {model_hint}): {detail}")
        case "request":
            return InvalidRequest(f"{where}: {detail}")
        case "retry":
            hint = f", retry after {retry_after:g}s" if retry_after is not None else ""
            message = f"{where}{hint}: {detail}"
        case "unexpected":
            message = f"{where} (unexpected status): {detail}"
    return ProviderUnavailable(message, status=status, retry_after_seconds=retry_after)


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
