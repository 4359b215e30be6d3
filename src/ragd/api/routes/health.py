"""Liveness, readiness, per-dependency health, and the Prometheus scrape endpoint.

These stay open when authentication is on: orchestrators and Prometheus call them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ragd import __version__
from ragd.api.deps import ServicesDep
from ragd.api.problems import problem
from ragd.observability import metrics
from ragd.services.container import Services
from ragd.services.resilience import ResilientLLM

router = APIRouter(tags=["health"])


def _check(fn: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # a health check reports failures, it does not raise them
        return {
            "status": "down",
            "error": type(exc).__name__,
            "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
        }
    out: dict[str, Any] = {
        "status": "ok",
        "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
    }
    if isinstance(detail, dict):
        out.update(detail)
    return out


@router.get("/health", summary="Alive")
@router.get("/api/v1/health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness: answered on the event loop itself, not by a thread of the pool, so that
    requests queued behind a long write (a huge document's commit holds SQLite's write
    lock for seconds) cannot make a live server look dead to its probes."""
    return alive()


def alive() -> dict[str, str]:
    """What ``/health`` answers (also ``ragd health``'s first fields)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", summary="Can serve: database reachable, index matches the model")
@router.get("/api/v1/ready", include_in_schema=False)
def ready(services: ServicesDep) -> Any:
    db = _check(services.queue.counts)
    index = _check(services.index.ensure_ready)
    if db["status"] != "ok" or index["status"] != "ok":
        return problem(
            None,
            503,
            "not_ready",
            "a dependency is down",
            headers={"Retry-After": "5"},
            checks={"database": db, "index": index},
        )
    return {"status": "ready"}


@router.get("/health/detailed", summary="Every dependency with its latency")
@router.get("/api/v1/health/detailed", include_in_schema=False)
def health_detailed(services: ServicesDep) -> JSONResponse:
    s = services.settings
    checks = {
        "database": _check(
            lambda: {"jobs": {str(k): v for k, v in services.queue.counts().items()}}
        ),
        "index": _check(
            lambda: {
                "backend": s.vector_store_type,
                "model": services.index.spec.model,
                "dimension": services.index.spec.dimension,
                # an external index (Qdrant): writes committed, not applied yet
                **(
                    {"outbox_backlog": services.index_sync.backlog()}
                    if services.index_sync is not None
                    else {}
                ),
            }
        ),
        "embedder": {"status": "ok", "model": services.embedder.spec.model},
        "llm": _llm_check(services),
        "cache": _cache_check(services),
    }
    down = [name for name, c in checks.items() if c["status"] != "ok"]
    body = {
        "status": "degraded" if down else "ok",
        "version": __version__,
        "environment": s.environment,
        "checks": checks,
    }
    return JSONResponse(body, status_code=503 if "database" in down else 200)


def _cache_check(services: Services) -> dict[str, Any]:
    """Degraded, never down, when Redis does not answer: a cache outage fails no request
    (every call is then a miss), but the operator should see it."""
    out = _check(services.cache.health)
    if out["status"] != "ok":
        out.update(
            status="degraded", backend="redis" if services.settings.storage.redis_url else "memory"
        )
    return out


def _llm_check(services: Services) -> dict[str, Any]:
    """Each provider of the fallback chain with its circuit breaker state; degraded when
    the primary's breaker is not closed (answers then come from a fallback)."""
    llm = services.llm
    out: dict[str, Any] = {"provider": services.settings.llm_provider, "model": llm.model}
    if isinstance(llm, ResilientLLM):
        chain = [
            {"dependency": b.dependency, "model": p.model, "breaker": b.state.name.lower()}
            for p, b in llm.chain
        ]
        out["chain"] = chain
        out["status"] = "ok" if chain[0]["breaker"] == "closed" else "degraded"
    else:
        out["status"] = "ok"
    return out


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(services: ServicesDep) -> Response:
    refresh_shared_gauges(services)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def refresh_shared_gauges(services: Services) -> None:
    """Read the gauges of shared state at scrape time: jobs per state, the queue's lag
    (for the worker-fell-behind alert) and searchable chunks per tenant. Each read that
    fails leaves its gauge as it was; the scrape still reports everything else."""
    with suppress(Exception):
        for state, n in services.queue.counts().items():
            metrics.INGEST_JOBS.labels(str(state)).set(n)
    with suppress(Exception):
        metrics.INGEST_QUEUE_LAG.set(services.queue.lag_seconds())
    with suppress(Exception):
        chunks = {t: services.index.count(t) for t in services.store.tenants()}
        metrics.INDEX_CHUNKS.clear()  # erased tenants leave the scrape
        for tenant, n in chunks.items():
            metrics.INDEX_CHUNKS.labels(tenant).set(n)
    with suppress(Exception):  # an external index: what the last `ragd reconcile` found
        drift = services.index_sync.last_drift() if services.index_sync else None
        if drift is not None:
            metrics.INDEX_DRIFT.labels("missing").set(drift.missing)
            metrics.INDEX_DRIFT.labels("orphan").set(drift.orphans)
