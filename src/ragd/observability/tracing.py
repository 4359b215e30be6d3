"""OpenTelemetry tracing: one span per stage of a query, exported over OTLP when configured.

Services start spans through the OpenTelemetry API (``trace.get_tracer("ragd")``), which
does nothing until a provider is set up, so tracing costs nothing by default. The SDK
side belongs to an app: :class:`AppTracing` owns (``OTEL_EXPORTER_OTLP_ENDPOINT``) or
borrows (``create_app(tracer_provider=...)``, tests) a ``TracerProvider`` and instruments
that app (FastAPI), its database engine (SQLAlchemy) and outgoing HTTP (httpx).

OpenTelemetry's global provider can be set only once per process, so ragd puts a
:class:`RoutingTracerProvider` there (only once some app traces) and each app marks its
own requests with its provider (a context variable set by :class:`TracingMiddleware`,
copied into the threads that serve the request). A span started anywhere in a request
goes to the provider of the app serving it; outside a traced request (the embedded
worker's polling, an app without tracing) spans are no-ops. Two apps in one process, as
in the tests, never see each other's spans, and nothing global needs resetting.

Span attributes name the tenant, the retrieval mode, ``top_k``, the number of passages,
models and token counts, never question text or credentials.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine
    from starlette.types import ASGIApp, Receive, Scope, Send

    from ragd.config import ObservabilitySettings

log = logging.getLogger("ragd.tracing")

# Attribute names: ragd's own under ``ragd.``, model and tokens under the GenAI conventions.
TENANT = "ragd.tenant_id"
MODE = "ragd.search.mode"
TOP_K = "ragd.search.top_k"
DOCS_RETRIEVED = "ragd.docs_retrieved"
CACHE_HIT = "ragd.cache.hit"
EMBEDDING_MODEL = "ragd.embedding.model"
EMBEDDING_TOKENS = "ragd.embedding.tokens"
RERANK_MODEL = "ragd.rerank.model"
RERANK_CANDIDATES = "ragd.rerank.candidates"
RERANK_TOP_K = "ragd.rerank.top_k"
AUTH_METHOD = "ragd.auth.method"
AUTH_ROLE = "ragd.auth.role"
LLM_REQUEST_MODEL = "gen_ai.request.model"
LLM_RESPONSE_MODEL = "gen_ai.response.model"
LLM_INPUT_TOKENS = "gen_ai.usage.input_tokens"
LLM_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"

UNTRACED_URLS = "/health$,/ready$,/metrics$,/health/detailed$"
"""Probes and scrapes: a span per call would bury the requests that matter."""

_ACTIVE: ContextVar[trace.TracerProvider | None] = ContextVar("ragd_tracer_provider", default=None)
_NOOP = trace.NoOpTracer()
_lock = threading.Lock()
_engines: weakref.WeakSet[Any] = weakref.WeakSet()


class RoutingTracerProvider(trace.TracerProvider):
    """The process-wide provider: its tracers start each span on the provider that the
    current request's app activated, or as a no-op outside any traced request."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return _RoutingTracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )


class _RoutingTracer(trace.Tracer):
    """Looks the provider up per span: the same tracer object serves every app."""

    def __init__(
        self, name: str, version: str | None, schema_url: str | None, attributes: Attributes
    ) -> None:
        self._scope = (name, version, schema_url, attributes)
        self._tracers: weakref.WeakKeyDictionary[trace.TracerProvider, trace.Tracer] = (
            weakref.WeakKeyDictionary()
        )

    def _delegate(self) -> trace.Tracer:
        provider = _ACTIVE.get()
        if provider is None:
            return _NOOP
        tracer = self._tracers.get(provider)
        if tracer is None:
            tracer = provider.get_tracer(*self._scope)
            self._tracers[provider] = tracer
        return tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._delegate().start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        with self._delegate().start_as_current_span(*args, **kwargs) as span:
            yield span


_ROUTER = RoutingTracerProvider()


@contextmanager
def activate(provider: trace.TracerProvider) -> Iterator[None]:
    """Send the spans started in this block (and in threads it starts with a copy of its
    context) to ``provider``. The middleware does this per request; a worker or a CLI
    command can do it around its own work."""
    token = _ACTIVE.set(provider)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


class TracingMiddleware:
    """Marks each request of one app with that app's provider (see the module doc)."""

    def __init__(self, app: ASGIApp, *, provider: trace.TracerProvider) -> None:
        self.app = app
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _ACTIVE.set(self.provider)
        try:
            await self.app(scope, receive, send)
        finally:
            _ACTIVE.reset(token)


def install_router() -> bool:
    """Make the routing provider the global one, once per process.

    Returns False when something else (an auto-instrumentation agent) set a global
    provider first; ragd's spans then go to that provider, as its owner intended.
    """
    with _lock:
        current = trace.get_tracer_provider()
        if current is _ROUTER:
            return True
        if isinstance(current, trace.ProxyTracerProvider):
            trace.set_tracer_provider(_ROUTER)
            return trace.get_tracer_provider() is _ROUTER
    log.warning("a global TracerProvider is already set; ragd's spans go to it")
    return False


def instrument_httpx() -> None:
    """Trace every outgoing httpx request (providers, rerankers), once per process; the
    routing provider makes that a no-op outside traced requests."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    with _lock:
        instrumentor = HTTPXClientInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=_ROUTER)


def instrument_engine(engine: Engine) -> None:
    """Trace the statements of ``engine`` (once per engine).

    ``SQLAlchemyInstrumentor().instrument(engine=...)`` only works for the first engine
    of a process (the instrumentor is a singleton that instruments once), so each engine
    gets the instrumentor's own event listeners (``EngineTracer``) directly, with the
    routing tracer: statements of a traced request are spans, the worker's polls are not.
    """
    from opentelemetry import metrics
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__ as version

    module = "opentelemetry.instrumentation.sqlalchemy"
    with _lock:
        if engine in _engines:
            return
        _engines.add(engine)
    usage = metrics.get_meter(module, version).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    # The instrumentation package ships no type hints for EngineTracer.
    EngineTracer(_ROUTER.get_tracer(module, version), engine, usage)  # type: ignore[no-untyped-call]


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP appends the signal's path to ``OTEL_EXPORTER_OTLP_ENDPOINT``."""
    return endpoint.rstrip("/") + "/v1/traces"


def build_provider(obs: ObservabilitySettings) -> trace.TracerProvider:
    """An SDK provider that batches spans to ``OTEL_EXPORTER_OTLP_ENDPOINT``.

    Sampling follows ``OTEL_TRACES_SAMPLER`` (default: always, or as the caller's
    ``traceparent`` says); ``OTEL_EXPORTER_OTLP_HEADERS`` is read by the exporter.
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ragd import __version__

    assert obs.otlp_endpoint, "build_provider needs an endpoint"
    resource = Resource.create(
        {
            "service.name": obs.service_name,
            "service.version": __version__,
            "deployment.environment.name": obs.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=traces_url(obs.otlp_endpoint))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@dataclass
class AppTracing:
    """Tracing of one app: its provider, and whether the app owns (and so shuts down,
    flushing queued spans) that provider."""

    provider: trace.TracerProvider
    owned: bool

    @classmethod
    def for_app(
        cls, obs: ObservabilitySettings, provider: trace.TracerProvider | None = None
    ) -> AppTracing | None:
        """A caller's provider (tests), else one built from settings, else None (off)."""
        if provider is not None:
            return cls(provider, owned=False)
        if obs.exports_traces:
            return cls(build_provider(obs), owned=True)
        return None

    def instrument_app(self, app: FastAPI) -> None:
        """Server spans for the app's requests, parents of every ragd, SQL and HTTP span
        started while serving them. Call after the app's other middleware is added."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        install_router()
        instrument_httpx()
        app.add_middleware(TracingMiddleware, provider=self.provider)
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=UNTRACED_URLS,
            exclude_spans=["receive", "send"],
        )

    def shutdown(self) -> None:
        """Flush and stop an owned provider; a borrowed one is its owner's to stop."""
        if self.owned:
            shutdown = getattr(self.provider, "shutdown", None)
            if shutdown is not None:
                shutdown()
