"""Tenant guards used by routes: quotas, and detection of cross-tenant probes.

A caller who names another tenant's document gets the same 404 as for a document that
does not exist (no existence leak); the attempt is counted in
``genai_cross_tenant_leakage_attempts_total`` and audited with the owner's tenant left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi import Request

from ragd.api.deps import audit
from ragd.domain.accounts import Principal, TenantLimits
from ragd.domain.models import TenantId, utcnow
from ragd.errors import NotFound, QuotaExceeded
from ragd.observability import metrics
from ragd.services.container import Services


@contextmanager
def guard_cross_tenant(
    request: Request, services: Services, principal: Principal, document_id: str
) -> Iterator[None]:
    try:
        yield
    except NotFound:
        owner = services.store.document_owner(document_id)
        if owner is not None and owner != principal.tenant_id:
            metrics.CROSS_TENANT_LEAKAGE_ATTEMPTS.inc()
            audit(
                request,
                services,
                principal,
                "document.cross_tenant_attempt",
                document_id,
                outcome="denied",
            )
        raise


def check_document_quota(services: Services, tenant: TenantId) -> None:
    limits = _limits(services, tenant)
    defaults = services.settings
    max_docs = _pick(limits.max_documents, defaults.max_documents_per_tenant)
    max_bytes = _pick(limits.max_bytes, defaults.max_bytes_per_tenant)
    if max_docs and services.store.count_documents(tenant) >= max_docs:
        raise QuotaExceeded(f"document quota reached ({max_docs} documents)")
    if max_bytes and services.store.stored_bytes(tenant) >= max_bytes:
        raise QuotaExceeded(f"storage quota reached ({max_bytes} bytes)")


def check_token_quota(services: Services, tenant: TenantId) -> None:
    limits = _limits(services, tenant)
    max_tokens = _pick(limits.max_llm_tokens_month, services.settings.max_llm_tokens_per_month)
    if max_tokens and services.audit.tokens_since(tenant, month_start()) >= max_tokens:
        raise QuotaExceeded(f"monthly LLM token quota reached ({max_tokens} tokens)")


def month_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _pick(own: int | None, default: int) -> int:
    return own if own is not None else default


def _limits(services: Services, tenant: TenantId) -> TenantLimits:
    try:
        return services.accounts.get_tenant(tenant).limits
    except NotFound:  # the embedded default tenant before its first document
        return TenantLimits()
