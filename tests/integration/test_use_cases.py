"""The query and submit use cases on real SQLite: quota first, then the query log, the
answer, its usage and metrics; uploads refused at the quota, cached answers dropped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ragd.domain.accounts import TenantLimits
from ragd.domain.filters import SearchFilters
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest, QuotaExceeded
from ragd.services.answer import Finished, Token
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.querying import QueryRequest
from ragd.services.quotas import month_start
from ragd.worker import build_worker
from tests.conftest import make_settings

BEES = (
    "Honeybees perform a waggle dance to tell nest mates where flowers are. "
    "The duration of the waggle run encodes the distance to the food."
)
QUESTION = "What does the duration of the waggle run encode?"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def query_embeddings() -> float:
    """Tokens of questions embedded so far: grows with every retrieval."""
    return metric("ragd_embedding_tokens_total", model="hashing-64", kind="query")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    settings = make_settings(tmp_path / "data")
    migrate_database(settings)
    services = build_services(settings)
    yield services
    services.close()


def indexed(svc: Services, tenant: TenantId, text: str = BEES) -> None:
    svc.ingest.submit_text(tenant, text, title="Bees")
    build_worker(svc).run(until_idle=True)


def ask(tenant: TenantId, **changes: Any) -> QueryRequest:
    asked = QueryRequest(tenant=tenant, question=QUESTION, user_id="u1", request_id="r1")
    return replace(asked, **changes)


def test_an_answer_leaves_one_query_log_row_one_usage_row_and_metrics(
    svc: Services, tenant: TenantId
) -> None:
    indexed(svc, tenant)
    answered = metric("genai_queries_total", status="success")
    latencies = metric("genai_query_latency_seconds_count")

    answer = svc.queries.answer(ask(tenant))

    assert answer.grounded and answer.citations and answer.usage.total_tokens > 0
    [row] = svc.audit.queries(tenant)
    assert (row.kind, row.text, row.user_id, row.request_id) == ("query", QUESTION, "u1", "r1")
    [usage] = svc.audit.usage(tenant, user_id="u1")
    assert usage["requests"] == 1
    assert usage["prompt_tokens"] == answer.usage.prompt_tokens
    assert usage["completion_tokens"] == answer.usage.completion_tokens
    assert metric("genai_queries_total", status="success") == answered + 1
    assert metric("genai_query_latency_seconds_count") == latencies + 1

    cached = svc.queries.answer(ask(tenant))  # accounted as a query, but costs nothing
    assert cached.cached
    assert len(svc.audit.queries(tenant)) == 2
    assert svc.audit.usage(tenant)[0]["requests"] == 1


def test_a_streamed_answer_is_accounted_once_it_finishes(svc: Services, tenant: TenantId) -> None:
    indexed(svc, tenant)
    events = svc.queries.stream(ask(tenant, kind="chat"))
    assert svc.audit.queries(tenant) == []  # nothing runs before the first event
    first = next(events)
    assert isinstance(first, Token)
    assert [q.kind for q in svc.audit.queries(tenant)] == ["chat"]
    assert svc.audit.usage(tenant) == []  # not finished yet
    rest = list(events)
    assert isinstance(rest[-1], Finished)
    assert svc.audit.usage(tenant)[0]["requests"] == 1


def test_quota_exceeded_raises_before_logging_or_retrieving(
    tmp_path: Path, tenant: TenantId
) -> None:
    settings = make_settings(tmp_path / "data", max_llm_tokens_per_month=1)
    migrate_database(settings)
    services = build_services(settings)
    try:
        indexed(services, tenant)
        services.queries.answer(ask(tenant))  # under the quota: answered, spends > 1 token
        assert services.audit.tokens_since(tenant, month_start()) > 1
        embedded = query_embeddings()
        errors = metric("genai_queries_total", status="error")

        with pytest.raises(QuotaExceeded, match="monthly LLM token quota"):
            services.queries.answer(ask(tenant, question="And the angle?"))
        with pytest.raises(QuotaExceeded):
            next(services.queries.stream(ask(tenant)))

        assert len(services.audit.queries(tenant)) == 1  # only the first question
        assert query_embeddings() == embedded  # no retrieval happened
        assert metric("genai_queries_total", status="error") == errors  # a refusal, not a failure
        # A search never calls the LLM: it is not held to the token quota.
        found = services.queries.search(QueryRequest(tenant, "waggle", kind="search"))
        assert found.hits
        assert [q.kind for q in services.audit.queries(tenant)] == ["query", "search"]
    finally:
        services.close()


def test_a_tenant_limit_overrides_the_default_quota(svc: Services, tenant: TenantId) -> None:
    svc.accounts.create_tenant(tenant, "T", TenantLimits(max_llm_tokens_month=1))
    indexed(svc, tenant)
    svc.queries.answer(ask(tenant))
    with pytest.raises(QuotaExceeded):
        svc.queries.answer(ask(tenant))


def test_a_failed_answer_is_counted_as_an_error(svc: Services, tenant: TenantId) -> None:
    errors = metric("genai_queries_total", status="error")
    with pytest.raises(InvalidRequest):
        svc.queries.answer(ask(tenant, mode="nonsense"))
    events = svc.queries.stream(ask(tenant, mode="nonsense"))
    with pytest.raises(InvalidRequest):
        next(events)
    assert metric("genai_queries_total", status="error") == errors + 2
    assert len(svc.audit.queries(tenant)) == 2  # asked (and logged), then refused


def test_search_uses_the_default_k_and_the_filters(svc: Services, tenant: TenantId) -> None:
    indexed(svc, tenant)
    indexed(svc, tenant, "Tides are caused by the gravity of the Moon.")
    both = svc.queries.search(QueryRequest(tenant, "waggle moon", kind="search"))
    assert len(both.hits) == 2
    only = svc.queries.search(
        QueryRequest(
            tenant, "waggle moon", kind="search", filters=SearchFilters(sources=("nowhere",))
        )
    )
    assert only.hits == []


def test_submissions_are_held_to_the_document_quota(tmp_path: Path, tenant: TenantId) -> None:
    settings = make_settings(tmp_path / "data", max_documents_per_tenant=1)
    migrate_database(settings)
    services = build_services(settings)
    try:
        services.submissions.check_quota(tenant)
        assert services.submissions.submit_text(tenant, "one").outcome == "queued"
        with pytest.raises(QuotaExceeded, match="document quota reached"):
            services.submissions.check_quota(tenant)
    finally:
        services.close()


def test_a_change_of_documents_drops_the_tenants_cached_answers(
    svc: Services, tenant: TenantId
) -> None:
    svc.cache.set(tenant, "answer:x", {"text": "stale"})
    rejected = svc.submissions.submit_bytes(tenant, b"", source="empty.txt")
    assert rejected.outcome == "failed"
    assert svc.cache.get(tenant, "answer:x") is not None  # nothing changed
    submitted = svc.submissions.submit_text(tenant, BEES)
    assert svc.cache.get(tenant, "answer:x") is None
    svc.cache.set(tenant, "answer:x", {"text": "stale"})
    svc.submissions.delete(tenant, submitted.document.id)
    assert svc.cache.get(tenant, "answer:x") is None


def test_an_explicit_k_is_checked_not_replaced_by_the_default(
    svc: Services, tenant: TenantId
) -> None:
    with pytest.raises(InvalidRequest):
        svc.queries.search(QueryRequest(tenant, "waggle", kind="search", k=0))
