"""The FastAPI app factory: ``create_app()`` for uvicorn (``--factory``) and tests.

The lifespan migrates the database and builds every adapter from Settings
(``services.container``), and in embedded mode also runs the ingestion worker beside it
(a child process, or a thread: ``api.embedded_worker``), so one command is the whole
service. With ``METRICS_PORT`` it also serves
``/metrics`` on that port (``api.metrics_port``). On shutdown the worker releases its jobs
(nothing is lost) and the database closes.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Route

from ragd import __version__
from ragd.api import api_docs, embedded_worker, problems, ui
from ragd.api.deps import document_roles
from ragd.api.mcp_http import PATH as MCP_PATH
from ragd.api.mcp_http import McpEndpoint, route_kwargs
from ragd.api.metrics_port import MetricsServer
from ragd.api.middleware import RequestContext
from ragd.api.routes import (
    admin,
    collections,
    conversations,
    documents,
    feedback,
    health,
    me,
    openai,
    prompts,
    retrieval,
    sources,
    usage,
    webhooks,
)
from ragd.api.security_headers import SecurityHeaders
from ragd.config import Settings, get_settings
from ragd.observability import metrics
from ragd.observability.error_reporting import close_sentry, init_sentry
from ragd.observability.logging import configure_logging
from ragd.observability.tracing import AppTracing, instrument_engine
from ragd.services.container import Services, build_services, migrate_database

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

EMBEDDED_SWITCH_INTERVAL_S = 0.001

log = logging.getLogger("ragd.api")

DESCRIPTION = """Documents in, grounded answers out, with citations to the exact passages.

Errors are RFC 9457 `application/problem+json`. Every response carries `X-Request-ID`.
"""


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """``services`` lets a caller (tests, benchmarks) share already-built services; the
    app then neither builds nor closes them, and runs no worker of its own.

    ``tracer_provider`` traces this app into the caller's provider (tests: an in-memory
    exporter); without it the app traces only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
    """
    settings = settings or (services.settings if services else get_settings())
    obs, api = settings.observability, settings.api
    if os.environ.get("RAGD_CONFIGURE_LOGGING") == "1":
        configure_logging(obs.log_level, obs.log_format)
    tracing = AppTracing.for_app(obs, tracer_provider)
    reports_errors = init_sentry(settings)
    mcp_endpoint = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        if own:
            migrate_database(settings)
        svc = services or build_services(settings)
        app.state.services = svc
        if tracing is not None and svc.engine is not None:
            instrument_engine(svc.engine)
        if not settings.auth_required:
            log.warning(
                "AUTHENTICATION IS OFF (RAGD_AUTH=%s, bound to %s): every request acts as "
                "a platform admin of tenant %r. Never expose this server beyond localhost.",
                settings.auth or "auto",
                api.host,
                "default",
            )
        metrics_server = None
        if obs.metrics_enabled and obs.metrics_port:

            def scrape() -> bytes:
                health.refresh_shared_gauges(svc)
                return metrics.exposition()

            try:
                metrics_server = MetricsServer(
                    api.host,
                    obs.metrics_port,
                    scrape,
                    shared=metrics.multiprocess_dir() is not None,
                )
            except OSError:
                if own:
                    svc.close()
                raise
        worker: embedded_worker.EmbeddedWorker | None = None
        if own and settings.runs_embedded_worker:
            # Whatever still competes with the event loop for this process's GIL (the
            # worker, when it runs as a thread; a request thread building a big tenant's
            # in-memory index) gets 1 ms at a time instead of 5 (measured in
            # tests/security/test_hostile_server.py).
            sys.setswitchinterval(EMBEDDED_SWITCH_INTERVAL_S)
            worker = embedded_worker.start(settings, svc)
        app.state.embedded_worker = worker
        try:
            async with mcp_endpoint.running():  # the /mcp session manager's task group
                yield
        finally:
            if worker is not None:
                worker.stop(timeout=settings.ingest.job_lease_seconds)
            if metrics_server is not None:
                metrics_server.close()
            metrics.worker_stopped()
            if own:
                svc.close()
            if tracing is not None:
                tracing.shutdown()
            if reports_errors:
                close_sentry()

    app = FastAPI(
        title="ragd",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # api_docs serves both pages without a CDN
        redoc_url=None,
    )
    if services is not None:
        app.state.services = services  # usable without running the lifespan (ASGI tools)
        if tracing is not None and services.engine is not None:
            instrument_engine(services.engine)
    problems.install(app)
    routers = (
        documents.router,
        retrieval.router,
        conversations.router,
        feedback.router,
        openai.router,
        usage.router,
        admin.router,
        health.router,
        me.router,
        sources.router,
        webhooks.router,
        prompts.router,
        collections.router,
    )
    for router in routers:
        app.include_router(document_roles(router))
    # MCP over streamable HTTP, behind the same authentication (api/mcp_http.py).
    app.router.routes.append(Route(MCP_PATH, mcp_endpoint, **route_kwargs()))
    ui.install(app)  # the web UI at / (public pages, not in the OpenAPI schema)
    api_docs.install(app)  # /docs and /redoc, offline
    if not obs.metrics_enabled:
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/metrics"]

    upload_limit = settings.ingest.max_document_bytes + 1024 * 1024  # multipart framing

    def limit_for(path: str, method: str) -> int:
        if method == "POST" and path.rstrip("/") == "/api/v1/documents":
            return upload_limit
        return api.max_request_bytes

    # Innermost: a 500 answered here keeps the connection, and passes CORS and metrics.
    app.add_middleware(problems.UnexpectedErrors)
    origins = api.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        RequestContext, limit_for=limit_for, max_concurrent=api.max_concurrent_requests
    )
    app.add_middleware(SecurityHeaders)  # on every response, the 413s and 503s included
    if tracing is not None:
        tracing.instrument_app(app)  # last: its middleware wraps all of the above
    return app
