"""Prometheus metrics under the names of DESIGN §7 (the reference dashboards use them).

Metrics live in the process-wide default registry, created once at import; every app in
the process shares them, which is what a scrape of one process should see.
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
CITATIONS = Counter(
    "ragd_citations_total", "Citations in answers, by verification outcome.", ["supported"]
)
INGEST_JOBS = Gauge("ragd_ingest_jobs", "Ingestion jobs by state.", ["state"])
"""Set at scrape time from the Queue (see ``api.routes.health``)."""
INDEX_CHUNKS = Gauge("ragd_index_chunks", "Searchable chunks per tenant.", ["tenant"])
