"""The core metric names of docs/architecture.md#metric-names (``DESIGN_METRICS``) are
served by GET /metrics after one ingest and one query, and the queue gauges describe the
real queue.

The LLM is the fake OpenAI server behind the real OpenAI-compatible adapter (so there
are token counts, a price, a circuit breaker); the queue is the real SQLite queue.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.queue import SqlQueue
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import NewDocument, TenantId, utcnow
from tests.api.conftest import BEES, TIDES
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer
from tests.observability.conftest import client, ingest, new_tenant

DESIGN_METRICS = (
    "rag_requests_total",
    "rag_request_duration_seconds",
    "genai_queries_total",
    "genai_query_latency_seconds",
    "genai_circuit_breaker_state",
    "genai_cross_tenant_leakage_attempts_total",
    "genai_cost_total_dollars",
    "ragd_ingest_jobs",
    "ragd_ingest_queue_lag_seconds",
    "ragd_index_chunks",
    "ragd_embedding_tokens_total",
    "ragd_llm_tokens_total",
)
"""The names of docs/architecture.md#metric-names this test requires samples of."""


def scrape(c: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = c.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_every_design_metric_has_samples_after_one_ingest_and_one_query(tmp_path: Path) -> None:
    prices = json.dumps({DEFAULT_MODEL: {"input": 1.0, "output": 2.0}})
    with (
        FakeOpenAIServer() as llm,
        client(
            tmp_path / "d",
            auth="required",
            llm_provider="openai-compatible",
            llm_base_url=llm.base_url,
            llm_model=DEFAULT_MODEL,
            llm_prices=prices,
        ) as c,
    ):
        tenant, headers = new_tenant(c)
        ingest(c, headers, BEES, TIDES)
        r = c.post("/api/v1/query", json={"query": "How far away is the food?"}, headers=headers)
        assert r.status_code == 200 and r.json()["model"] == DEFAULT_MODEL
        samples = scrape(c)
    names = {name for name, _ in samples}
    missing = [
        m
        for m in DESIGN_METRICS
        if m not in names and f"{m}_count" not in names  # histograms
    ]
    assert missing == []
    # The samples are this app's, not left over from other tests in the process:
    assert value(samples, "rag_requests_total", endpoint="/api/v1/query", status="200") >= 1
    assert value(samples, "genai_cost_total_dollars", tenant=tenant) > 0
    assert value(samples, "ragd_index_chunks", tenant=tenant) >= 2
    assert value(samples, "genai_circuit_breaker_state", dependency="openai-compatible") == 0
    assert value(samples, "ragd_llm_tokens_total", model=DEFAULT_MODEL, kind="prompt") > 0
    for kind in ("query", "document"):
        assert value(samples, "ragd_embedding_tokens_total", model="hashing-64", kind=kind) > 0
    assert value(samples, "ragd_ingest_jobs", state="done") == 2
    assert value(samples, "ragd_ingest_queue_lag_seconds") == 0  # the worker kept up


def test_queue_depth_and_lag_on_scrape_while_no_worker_runs(tmp_path: Path) -> None:
    with client(tmp_path / "d", embedded_worker=False) as c:
        c.post("/api/v1/documents", json={"text": BEES})
        time.sleep(0.3)
        samples = scrape(c)
    assert value(samples, "ragd_ingest_jobs", state="queued") == 1
    assert value(samples, "ragd_ingest_queue_lag_seconds") >= 0.3


def test_lag_is_the_wait_of_the_oldest_due_job(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    migrate.upgrade(db)
    store, queue = SqlStore(db), SqlQueue(db)
    tenant = TenantId("t-lag")
    store.ensure_tenant(tenant)
    assert queue.lag_seconds() == 0.0
    for name in ("a", "b"):
        with store.transaction() as tx:
            doc = store.create_document(tx, tenant, NewDocument(name, name, "text/plain", name, 1))
            queue.enqueue(tx, tenant, doc.id)
        time.sleep(0.2)
    assert queue.lag_seconds() >= 0.4  # the first job's wait, not the second's
    [first] = queue.claim("w", limit=1, lease_seconds=30)
    assert 0.2 <= queue.lag_seconds() < 0.4
    [second] = queue.claim("w", limit=1, lease_seconds=30)
    assert queue.lag_seconds() == 0.0  # running jobs are not waiting
    later = utcnow().replace(year=utcnow().year + 1)
    queue.fail(second.id, "w", "flaky", retry_at=later)
    assert queue.lag_seconds() == 0.0  # a retry that is not yet due is not lag
    assert first.id != second.id
    db.dispose()
