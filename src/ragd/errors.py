"""One error tree for the whole service.

Adapters translate backend exceptions into these types so that services, the CLI and
(later) the HTTP layer can decide on behaviour from the type alone: ``retryable`` tells the
ingestion worker whether another attempt can help, ``code`` is the stable machine name that
the API turns into a problem+json ``type``.
"""

from __future__ import annotations


class RagdError(Exception):
    """Base of every error ragd raises on purpose."""

    code = "internal"
    retryable = False


class NotFound(RagdError):
    code = "not_found"


class InvalidRequest(RagdError):
    code = "invalid_request"


class ConfigError(RagdError):
    code = "config"


class IndexMismatch(ConfigError):
    """The index was built with another embedding model or dimension than configured."""

    code = "index_mismatch"


class DocumentRejected(RagdError):
    """The document itself is unusable (corrupt, empty, unsupported, too large).

    Never retried: the same bytes would fail the same way.
    """

    code = "document_rejected"


class UnsupportedMediaType(DocumentRejected):
    code = "unsupported_media_type"


class DocumentTooLarge(DocumentRejected):
    code = "document_too_large"


class BackendUnavailable(RagdError):
    code = "backend_unavailable"
    retryable = True


class Overloaded(BackendUnavailable):
    """This process has no room for the request right now (HTTP 503 with ``Retry-After``):
    every request slot or every key-check slot is taken."""

    code = "overloaded"

    def __init__(self, message: str, retry_after_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class DocumentBusy(InvalidRequest):
    """The document is being ingested: it cannot be moved now (HTTP 409)."""

    code = "document_busy"


class LeaseLost(RagdError):
    """A worker's lease on a job expired and another worker took it over."""

    code = "lease_lost"
    retryable = True


class Unauthenticated(RagdError):
    """No credentials, or credentials that are not valid (HTTP 401)."""

    code = "unauthenticated"


class Forbidden(RagdError):
    """Valid credentials without the right to do this (HTTP 403)."""

    code = "forbidden"


class QuotaExceeded(Forbidden):
    """A tenant's document, storage or monthly LLM-token quota is used up."""

    code = "quota_exceeded"


class RateLimited(RagdError):
    """Too many requests for the tenant or key in the current window (HTTP 429)."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
