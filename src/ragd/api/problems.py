"""RFC 9457 problem+json for every error, with a stable ``type`` per error code.

No stack trace ever reaches a client: unexpected exceptions are logged with the request
id and answered with a generic 500. Under the OpenAI-compatible paths (``/v1/``) the
body also carries OpenAI's ``error`` object, so OpenAI SDKs show the message.

Unexpected exceptions are answered by ``UnexpectedErrors``, a middleware inside the app,
rather than by Starlette's outermost error middleware: that one re-raises after answering,
and the server then drops the keep-alive connection (a client with a pool sees its next
request fail on a dead socket).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragd.errors import (
    BackendUnavailable,
    ConfigError,
    DocumentBusy,
    DocumentRejected,
    DocumentTooLarge,
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    RagdError,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
)
from ragd.observability.error_reporting import report_exception

log = logging.getLogger("ragd.api")

PROBLEM_BASE = "https://ragd.dev/problems/"
MEDIA_TYPE = "application/problem+json"

_STATUS: list[tuple[type[RagdError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (NotFound, 404),
    (DocumentTooLarge, 413),
    (UnsupportedMediaType, 415),
    (DocumentRejected, 422),
    (DocumentBusy, 409),
    (InvalidRequest, 422),
    (BackendUnavailable, 503),
    (ConfigError, 500),
]


class BodyTooLarge(Exception):
    """A streamed request body passed its size limit while being read."""


class ProblemError(Exception):
    """Raised by routes for HTTP-level problems that have no RagdError (e.g. 413)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def status_for(exc: RagdError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def problem(
    request: Request | None,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
        if request.url.path.startswith("/v1/"):
            body["error"] = {"message": detail, "type": code, "code": code, "param": None}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def validation_problem(request: Request, raw_errors: Sequence[Any]) -> JSONResponse:
    """422 listing where and why, without echoing the input (it may be binary or huge)."""
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in raw_errors
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem(request, 422, "validation_error", detail or "invalid request", errors=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(RagdError)
    async def _ragd(request: Request, exc: RagdError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500 and not isinstance(exc, Overloaded):  # load shedding is no error
            log.error("request failed: %s: %s", exc.code, exc)
        headers = None
        if isinstance(exc, RateLimited | Overloaded):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_seconds)))}
        elif isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": 'Bearer realm="ragd"'}
        elif exc.retryable:
            headers = {"Retry-After": "5"}
        detail = str(exc) if status < 500 or exc.retryable else "internal configuration error"
        return problem(request, status, exc.code, detail, headers)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(request, exc.status, exc.code, exc.detail, **exc.extra)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, _exc: BodyTooLarge) -> JSONResponse:
        return problem(request, 413, "payload_too_large", "request body is too large")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(
            request, exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error (request_id=%s)", getattr(request.state, "request_id", "-"))
        return problem(request, 500, "internal", "internal server error")


class UnexpectedErrors:
    """Answers an exception that no handler took with a 500 problem and keeps the
    connection: logged with its traceback, sent to Sentry when that is on, recorded on the
    request's span, and counted by ``RequestContext`` (which sits outside this).

    An exception after the response has started is re-raised: the client must not take
    half a body for a whole one, so the connection has to close."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except BodyTooLarge:
            raise  # RequestContext answers it (413)
        except Exception as exc:
            if started:
                raise
            request = Request(scope)
            log.exception(
                "unhandled error (request_id=%s)", getattr(request.state, "request_id", "-")
            )
            report_exception(exc)
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            response = problem(request, 500, "internal", "internal server error")
            await response(scope, receive, send)
