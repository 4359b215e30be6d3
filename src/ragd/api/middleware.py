"""Request context as plain ASGI middleware: request id, body size limit, metrics.

Plain ASGI rather than ``BaseHTTPMiddleware`` because it does not buffer streamed
responses (SSE) and costs less per request, which matters for the HTTP-vs-in-process
latency target.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragd.api.problems import MEDIA_TYPE, PROBLEM_BASE, BodyTooLarge
from ragd.errors import Overloaded
from ragd.observability import metrics
from ragd.observability.logging import get_logger

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access = get_logger("ragd.access")
UNBOUNDED_PATHS = frozenset({"/health", "/ready", "/metrics", "/api/v1/health", "/api/v1/ready"})
"""Probes and scrapes are never refused for load: an orchestrator must see the truth."""


class RequestContext:
    """Sets ``request.state.request_id`` (``X-Request-ID`` if it is safe, else a new
    one) and echoes it; refuses bodies over ``limit_for(path, method)`` bytes with 413
    before reading them (Content-Length) or as soon as a streamed body passes the limit;
    counts every request in ``rag_requests_total`` and ``rag_request_duration_seconds``
    under its route template, so ids in paths do not explode label cardinality, and
    every request but probes and scrapes in ``ragd_http_requests_in_flight`` while it is
    served (one series per process: the route is known only once the request has been
    routed, and autoscaling wants the total anyway).

    **Request slots** (``max_concurrent``, 0: unbounded) belong to authenticated callers.
    A slot is not taken when a request arrives but when it has proven who it is: the
    middleware puts ``claim_slot`` in the request state, and the principal dependency
    (``api.deps``) calls it after authentication and the rate limits; the slot is given back
    here when the response is over (after the last byte of a stream). A full server
    answers that call with 503 and Retry-After at once, no queue. So strangers sending bad
    credentials, however many, never hold a slot: their cost is bounded by the
    authenticator (failure budgets, bounded key checks, ``services.auth_guard``), and a
    legitimate caller's request finds its slot free. Routes that authenticate nobody
    (probes, the OpenAPI page, the UI's static files) take no slot either."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for: Callable[[str, str], int],
        max_concurrent: int = 0,
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.max_concurrent = max_concurrent
        self.in_flight = 0
        self._lock = threading.Lock()  # claimed on the thread pool, released on the loop

    def _claim(self, claimed: dict[str, bool]) -> None:
        if claimed["slot"] or self.max_concurrent <= 0:
            return
        with self._lock:
            if self.in_flight >= self.max_concurrent:
                raise Overloaded(
                    f"more than {self.max_concurrent} requests in flight; retry shortly"
                )
            self.in_flight += 1
        claimed["slot"] = True

    def _release(self, claimed: dict[str, bool]) -> None:
        if claimed["slot"]:
            with self._lock:
                self.in_flight -= 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        limit = self.limit_for(scope["path"], scope["method"])
        status_holder = {"status": 500, "sent": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["sent"] = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        length = headers.get(b"content-length")
        claimed = {"slot": False}
        counted = scope["path"] not in UNBOUNDED_PATHS
        if counted:
            scope["state"]["claim_slot"] = lambda: self._claim(claimed)
            metrics.REQUESTS_IN_FLIGHT.inc()
        try:
            if length is not None and length.isdigit() and int(length) > limit:
                await _too_large(send_wrapper, scope, request_id, limit)
                return
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise BodyTooLarge
                return message

            await self.app(scope, receive_limited, send_wrapper)
        except BodyTooLarge:
            if not status_holder["sent"]:
                await _too_large(send_wrapper, scope, request_id, limit)
        finally:
            self._release(claimed)
            if counted:
                metrics.REQUESTS_IN_FLIGHT.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            status = str(status_holder["status"])
            method = str(scope.get("method", ""))
            metrics.REQUESTS.labels(endpoint, status).inc()
            metrics.REQUEST_DURATION.labels(endpoint).observe(elapsed)
            metrics.HTTP_REQUESTS.labels(method, endpoint, status).inc()
            metrics.HTTP_REQUEST_DURATION.labels(method, endpoint).observe(elapsed)
            _log_request(scope, endpoint, int(status_holder["status"]), elapsed, request_id)


def _log_request(scope: Scope, endpoint: str, status: int, elapsed: float, request_id: str) -> None:
    if scope["path"] in UNBOUNDED_PATHS:
        return  # probes and scrapes would drown everything else
    state = scope.get("state") or {}
    principal = state.get("principal")
    span = trace.get_current_span().get_span_context()
    traced = {"trace_id": format(span.trace_id, "032x")} if span.is_valid else {}
    access.info(
        "request",
        method=scope["method"],
        path=scope["path"],
        endpoint=endpoint,
        status=status,
        duration_ms=round(elapsed * 1e3, 2),
        request_id=request_id,
        tenant_id=getattr(principal, "tenant_id", None),
        user_id=getattr(principal, "user_id", None),
        docs_retrieved=state.get("docs_retrieved"),
        **traced,  # the request's trace, when tracing is on
    )


async def _too_large(send: Send, scope: Scope, request_id: str, limit: int) -> None:
    await _problem(
        send,
        scope,
        request_id,
        413,
        "payload_too_large",
        f"request body is larger than {limit} bytes",
        [(b"connection", b"close")],
    )


async def _problem(
    send: Send,
    scope: Scope,
    request_id: str,
    status: int,
    code: str,
    detail: str,
    extra_headers: list[tuple[bytes, bytes]],
) -> None:
    body = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": scope["path"],
        "request_id": request_id,
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(data)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
