"""Detection of cross-tenant probes (quotas are the services' job: ``services.quotas``).

A caller who names another tenant's document gets the same answer as for a document that
does not exist (a 404 by id; no hits from a search filter): no existence leak. The attempt
is counted in ``genai_cross_tenant_leakage_attempts_total`` and audited twice, with the
same request id: in the prober's tenant, without the owner (its admins must not learn
where the document lives), and in the owner's tenant with ``detail.from_tenant``, so the
targeted tenant's admins see who probed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from ragd.api.deps import audit, client_ip, request_id
from ragd.domain.accounts import Principal
from ragd.domain.filters import SearchFilters
from ragd.domain.models import TenantId
from ragd.errors import NotFound
from ragd.observability import metrics
from ragd.services.container import Services

ACTION = "document.cross_tenant_attempt"
MAX_FILTER_IDS_CHECKED = 20
"""Document ids of one search filter looked up for probes (the filter accepts 1,000): the
lookups run where the request is built, on the event loop for ``/query``, so they are
kept few. A probe hidden past them is still answered without the document, only not
counted."""


@contextmanager
def guard_cross_tenant(
    request: Request, services: Services, principal: Principal, document_id: str
) -> Iterator[None]:
    try:
        yield
    except NotFound:
        owner = services.store.document_owner(document_id)
        if owner is not None and owner != principal.tenant_id:
            _probed(request, services, principal, document_id, owner)
        raise


def check_filter_probes(
    request: Request, services: Services, principal: Principal, filters: SearchFilters
) -> None:
    """Count and audit the document ids of a search filter that belong to another tenant.

    The search itself needs nothing from here: it only ever reads the caller's tenant, so
    such ids match nothing. Costs one indexed lookup per id, only for filters naming ids."""
    for document_id in dict.fromkeys(filters.document_ids[:MAX_FILTER_IDS_CHECKED]):
        owner = services.store.document_owner(document_id)
        if owner is not None and owner != principal.tenant_id:
            _probed(request, services, principal, document_id, owner)


def _probed(
    request: Request, services: Services, principal: Principal, document_id: str, owner: TenantId
) -> None:
    metrics.CROSS_TENANT_LEAKAGE_ATTEMPTS.inc()
    audit(request, services, principal, ACTION, document_id, outcome="denied")
    services.audit.record(
        owner,
        user_id=None,
        action=ACTION,
        resource=document_id,
        outcome="denied",
        client_ip=client_ip(request),
        request_id=request_id(request),
        detail={"from_tenant": principal.tenant_id},
    )
