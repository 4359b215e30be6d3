"""Prometheus metrics under the names of docs/architecture.md#metric-names (the dashboards
use them).

Metrics live in the process-wide default registry, created once at import; every app in
the process shares them, which is what a scrape of one process should see. The gauges of
shared state (jobs per state, queue lag, chunks per tenant) are read from the Queue and
the Index when ``/metrics`` is scraped (``api.routes.health``), so every replica reports
them, whichever process did the work.

Several uvicorn workers (``UVICORN_WORKERS`` > 1) are one server: ``ragd serve`` then sets
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode: each worker writes its
samples to files there) and ``exposition`` merges every worker's, so a scrape answered by
any worker counts the requests of all (without it each scrape would see one worker's
counters, and ``rate()`` would read the jumps between them as resets). Each gauge says how
its workers' values merge (``multiprocess_mode``; ignored with one process): the gauges of
shared state take the most recent value, in-flight requests the sum over live workers,
cost the sum, breaker states one series per live worker (label ``pid``). ``process_*``
(memory, CPU, file descriptors) are then those of the worker that answered the scrape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's switch to multiprocess mode; read when it is imported."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter(
    "rag_requests_total", "HTTP requests by route template and status code.", ["endpoint", "status"]
)
REQUEST_DURATION = Histogram(
    "rag_request_duration_seconds",
    "HTTP request duration by route template.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
# The conventional names, with the request's method: what operators' dashboards and
# runbooks query (``rate(http_requests_total{status=~"5.."}[5m])``, a P95 over
# ``http_request_duration_seconds_bucket``, legends by ``{{method}} {{status}}``). Served
# here rather than as recording rules because a rule cannot add the ``method`` label the
# rag_* series lack, and a served series works with any Prometheus set-up, rule files or
# not. Counted beside rag_requests_total / rag_request_duration_seconds, which ragd's own
# rules, alerts and dashboards keep using.
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "endpoint", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by method and route template.",
    ["method", "endpoint"],
    buckets=LATENCY_BUCKETS,
)
QUERIES = Counter(
    "genai_queries_total",
    "Answered queries by outcome: success, no_answer, cached, error.",
    ["status"],
)
QUERY_LATENCY = Histogram(
    "genai_query_latency_seconds", "Time to a complete answer.", buckets=LATENCY_BUCKETS
)
LLM_TOKENS = Counter(
    "ragd_llm_tokens_total", "Tokens read and written by the LLM.", ["model", "kind"]
)
EMBEDDING_TOKENS = Counter(
    "ragd_embedding_tokens_total",
    "Tokens sent to the embedding model, by kind: query, or document (chunk text).",
    ["model", "kind"],
)
CITATIONS = Counter(
    "ragd_citations_total", "Citations in answers, by verification outcome.", ["supported"]
)
REQUESTS_IN_FLIGHT = Gauge(
    "ragd_http_requests_in_flight",
    "HTTP requests being served (until the last byte of a stream), probes and scrapes "
    "excepted: what the API autoscales on.",
    multiprocess_mode="livesum",
)
INGEST_JOBS = Gauge(
    "ragd_ingest_jobs", "Ingestion jobs by state.", ["state"], multiprocess_mode="mostrecent"
)
"""Set at scrape time from the Queue (see ``api.routes.health``), as are the next two."""
INGEST_QUEUE_LAG = Gauge(
    "ragd_ingest_queue_lag_seconds",
    "How long the oldest job ready to run has waited for a worker, in seconds (0: none).",
    multiprocess_mode="mostrecent",
)
INDEX_CHUNKS = Gauge(
    "ragd_index_chunks", "Searchable chunks per tenant.", ["tenant"], multiprocess_mode="mostrecent"
)
INDEX_DRIFT = Gauge(
    "ragd_index_drift_chunks",
    "Chunks the last `ragd reconcile` found apart between Store and an external index: "
    "missing (in the Store, not the index) or orphan (in the index, not the Store).",
    ["kind"],
    multiprocess_mode="mostrecent",
)
CACHE_ERRORS = Counter(
    "ragd_cache_errors_total",
    "Cache backend failures (each call then behaved as a miss or a no-op), by operation.",
    ["operation"],
)
LIMITER_ERRORS = Counter(
    "ragd_limiter_errors_total",
    "Rate limiter backend failures, by the decision taken instead (fail_open, fail_closed).",
    ["outcome"],
)
# Labelled metrics show only HELP and TYPE until their first sample: a breaker state once
# a provider has a breaker, a cost once a tenant spends.
CIRCUIT_BREAKER_STATE = Gauge(
    "genai_circuit_breaker_state",
    "Circuit breaker state per dependency: 0 closed, 1 open, 2 half-open.",
    ["dependency"],
    multiprocess_mode="liveall",
)
CROSS_TENANT_LEAKAGE_ATTEMPTS = Counter(
    "genai_cross_tenant_leakage_attempts_total",
    "Requests refused because they reached for another tenant's data.",
)
ACCESS_DENIED = Counter(
    "ragd_access_denied_total",
    "Requests refused by collection grants, allow-lists or key scopes, by reason: "
    "no_grant (the collection is not readable), level (read but not write/manage), "
    "key_scope (the API key is limited to other collections), admin (tenant admins only).",
    ["reason"],
)
COST_DOLLARS = Gauge(
    "genai_cost_total_dollars",
    "Cumulative provider cost in US dollars per tenant (only ever increased; a Gauge so "
    "the name stays exactly this, a Counter would append _total).",
    ["tenant"],
    multiprocess_mode="sum",
)
FALLBACKS = Counter(
    "ragd_llm_fallbacks_total",
    "Times a provider gave up and the next one in the fallback chain was asked.",
    ["dependency"],
)
SOURCE_SYNC_RUNS = Counter(
    "ragd_source_sync_runs_total",
    "Runs of synced sources by kind (s3, web, folder) and outcome "
    "(success, partial, failed, interrupted).",
    ["kind", "outcome"],
)
SOURCE_ITEMS = Counter(
    "ragd_source_items_total",
    "Items of synced sources by kind and what a run did with them "
    "(added, changed, unchanged, deleted, failed).",
    ["kind", "action"],
)
SOURCE_SYNC_DURATION = Histogram(
    "ragd_source_sync_duration_seconds",
    "Wall-clock time of one run of a synced source, by kind.",
    ["kind"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)


def multiprocess_dir() -> Path | None:
    """Where the workers of one ``ragd serve`` write their samples, if they do."""
    directory = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(directory) if directory else None


_children: list[Path] = []
"""Multiprocess directories of child processes whose samples this process's scrapes add
(the embedded ingestion worker's, ``api.embedded_worker``)."""


def merge_from(directory: Path) -> None:
    """Add the samples a child process writes to ``directory`` (started with
    ``PROMETHEUS_MULTIPROC_DIR`` set to it) to this process's scrapes."""
    _children.append(directory)


def stop_merging(directory: Path) -> None:
    with suppress(ValueError):
        _children.remove(directory)


class _WithChildren(Collector):
    """This process's metrics with its children's added: a counter the embedded worker
    increments (``ragd_embedding_tokens_total{kind="document"}``) is one series, summed."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    def collect(self) -> Iterable[Metric]:
        families = {m.name: m for m in REGISTRY.collect()}
        for directory in self.directories:
            child = multiprocess.MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]
            for theirs in child.collect():  # type: ignore[no-untyped-call]
                mine = families.get(theirs.name)
                if mine is None:
                    families[theirs.name] = theirs
                    continue
                merged = {(s.name, tuple(sorted(s.labels.items()))): s for s in mine.samples}
                for s in theirs.samples:
                    key = (s.name, tuple(sorted(s.labels.items())))
                    same = merged.get(key)
                    merged[key] = s if same is None else same._replace(value=same.value + s.value)
                mine.samples = list(merged.values())
        return list(families.values())


def exposition() -> bytes:
    """A scrape's body: this process's metrics (with its worker process's, if any), or, in
    multiprocess mode, every worker's merged (plus the answering worker's ``process_*``)."""
    directory = multiprocess_dir()
    if directory is None:
        if not _children:
            return generate_latest()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_WithChildren(list(_children)))
        return generate_latest(registry)
    forget_dead_workers(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    ProcessCollector(registry=registry)
    return generate_latest(registry)


_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges (in-flight requests, breaker states) of workers that are gone
    without saying so (killed, or replaced by uvicorn after a hang); a worker that stops
    cleanly calls ``worker_stopped`` itself."""
    for path in directory.glob("gauge_live*.db"):
        match = _LIVE_FILE.match(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's
            continue


def worker_stopped() -> None:
    """This worker is stopping: its live gauges leave the merged scrape."""
    if (directory := multiprocess_dir()) is not None:
        multiprocess.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]
