"""Typed exceptions for ragd's RFC 9457 ``application/problem+json`` errors.

Every error response of ragd is a problem with a stable ``code`` (``not_found``,
``rate_limited``, ``quota_exceeded``, ...), a ``detail`` sentence and the ``request_id``
to quote to an operator. The exception class follows the HTTP status, so callers catch
what they can act on; ``code`` tells cases of one status apart.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any


class RagdError(Exception):
    """Base of every error this client raises."""


class RagdConnectionError(RagdError):
    """The server could not be reached (after the retries)."""


class APIError(RagdError):
    """An error response from ragd: the problem's fields, typed."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body or {}


class BadRequestError(APIError):
    """400."""


class AuthenticationError(APIError):
    """401: no credentials, or credentials ragd does not accept."""


class PermissionDeniedError(APIError):
    """403: the role is too low, or a quota is spent (``code == "quota_exceeded"``)."""


class NotFoundError(APIError):
    """404: missing, or another tenant's (ragd does not say which)."""


class ConflictError(APIError):
    """409: the resource is not in a state that allows this (e.g. cancelling an indexed
    document)."""


class PayloadTooLargeError(APIError):
    """413: the upload or request body is over the server's limit."""


class UnsupportedMediaTypeError(APIError):
    """415: a file type ragd cannot read."""


class ValidationError(APIError):
    """422: the request or the document was refused (``detail`` says what is wrong)."""


class RateLimitError(APIError):
    """429: over a rate limit; ``retry_after`` is when to try again (seconds)."""


class ServerError(APIError):
    """5xx other than 503."""


class ServiceUnavailableError(ServerError):
    """503: overloaded or a dependency is down; retryable, maybe with ``retry_after``."""


class StreamError(APIError):
    """An ``error`` event inside an answer stream (the status line was already sent)."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}

RETRYABLE = (RateLimitError, ServiceUnavailableError)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent
    or unreadable (never negative)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_for(status: int, body: dict[str, Any] | None, retry_after: str | None = None) -> APIError:
    """The typed exception for an error response (any body, problem+json or not)."""
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or f"http_{status}")
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    request_id = body.get("request_id")
    return cls(
        status,
        code,
        detail,
        request_id=request_id if isinstance(request_id, str) else None,
        retry_after=parse_retry_after(retry_after),
        body=body,
    )
