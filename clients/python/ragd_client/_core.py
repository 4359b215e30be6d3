"""What the sync and async clients share: credentials, request bodies, the retry policy,
and turning a response into a value or a typed error."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from ragd_client import __version__
from ragd_client.errors import RETRYABLE, APIError, RagdConnectionError, error_for
from ragd_client.models import Mode

DEFAULT_URL = "http://127.0.0.1:8000"


def headers(api_key: str | None, token: str | None) -> dict[str, str]:
    out = {"User-Agent": f"ragd-client/{__version__}", "Accept": "application/json"}
    if api_key:
        out["X-API-Key"] = api_key
    elif token:
        out["Authorization"] = f"Bearer {token}"
    return out


@dataclass(frozen=True)
class RetryPolicy:
    """Retry 429 and 503 answers (and connections that never reached the server).

    A ``Retry-After`` from ragd is honoured exactly; without one the wait grows
    exponentially from ``backoff`` seconds, with jitter. A ``Retry-After`` longer than
    ``max_wait`` is not waited for: the error is raised at once, so a caller over a
    per-minute quota is not blocked for a minute without knowing.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, RagdConnectionError):
            return True
        if isinstance(exc, RETRYABLE):
            return exc.retry_after is None or exc.retry_after <= self.max_wait
        return False

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, APIError) else None
        if retry_after is not None:
            return float(min(retry_after, self.max_wait))
        grown = self.backoff * 2.0 ** (state.attempt_number - 1)
        return min(grown, self.max_wait) * random.uniform(0.5, 1.0)

    def arguments(self) -> dict[str, Any]:
        """The tenacity arguments (for ``Retrying`` and ``AsyncRetrying``)."""
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "wait": self.wait,
            "retry": retry_if_exception(self.should_retry),
            "reraise": True,
        }


def check(response: httpx.Response) -> None:
    """Raise the typed error of a non-2xx response (its body must have been read)."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    raise error_for(response.status_code, body, response.headers.get("retry-after"))


def query_body(
    query: str,
    *,
    top_k: int | None,
    mode: Mode | None,
    filters: dict[str, Any] | None,
    history: list[dict[str, str]] | None = None,
    stream: bool | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query}
    if top_k is not None:
        body["top_k"] = top_k
    if mode is not None:
        body["mode"] = mode
    if filters:
        body["filters"] = filters
    if history:
        body["history"] = history
    if stream is not None:
        body["stream"] = stream
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


def feedback_body(rating: str, reason: str | None, comment: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"rating": rating}
    if reason is not None:
        body["reason"] = reason
    if comment is not None:
        body["comment"] = comment
    return body


def conversation_path(conversation_id: str) -> str:
    """The conversation's URL path; an id with a slash or other URL syntax is quoted, so it
    cannot address another route."""
    return "/api/v1/conversations/" + quote(conversation_id, safe="")


def answer_feedback_path(answer_id: str) -> str:
    return f"/api/v1/answers/{quote(answer_id, safe='')}/feedback"


def list_params(status: str | None, q: str | None, limit: int, offset: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status:
        params["status"] = status
    if q:
        params["q"] = q
    return params


TERMINAL = ("indexed", "failed")
