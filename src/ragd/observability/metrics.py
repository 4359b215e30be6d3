"""Prometheus metrics under the names of docs/architecture.md#metric-names (the dashboards
use them).

Metrics live in the process-wide default registry, created once at import; every app in
the process shares them, which is what a scrape of one process should see. The gauges of
shared state (jobs per state, queue lag, chunks per tenant) are read from the Queue and
the Index when ``/metrics`` is scraped (``api.routes.health``), so every replica reports
them, whichever process did the work.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
INGEST_JOBS = Gauge("ragd_ingest_jobs", "Ingestion jobs by state.", ["state"])
"""Set at scrape time from the Queue (see ``api.routes.health``), as are the next two."""
INGEST_QUEUE_LAG = Gauge(
    "ragd_ingest_queue_lag_seconds",
    "How long the oldest job ready to run has waited for a worker, in seconds (0: none).",
)
INDEX_CHUNKS = Gauge("ragd_index_chunks", "Searchable chunks per tenant.", ["tenant"])
INDEX_DRIFT = Gauge(
    "ragd_index_drift_chunks",
    "Chunks the last `ragd reconcile` found apart between Store and an external index: "
    "missing (in the Store, not the index) or orphan (in the index, not the Store).",
    ["kind"],
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
)
CROSS_TENANT_LEAKAGE_ATTEMPTS = Counter(
    "genai_cross_tenant_leakage_attempts_total",
    "Requests refused because they reached for another tenant's data.",
)
COST_DOLLARS = Gauge(
    "genai_cost_total_dollars",
    "Cumulative provider cost in US dollars per tenant (only ever increased; a Gauge so "
    "the name stays exactly this, a Counter would append _total).",
    ["tenant"],
)
FALLBACKS = Counter(
    "ragd_llm_fallbacks_total",
    "Times a provider gave up and the next one in the fallback chain was asked.",
    ["dependency"],
)
