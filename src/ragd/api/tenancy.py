"""Detection of cross-tenant probes (quotas are the services' job: ``services.quotas``).

A caller who names another tenant's document gets the same 404 as for a document that
does not exist (no existence leak); the attempt is counted in
``genai_cross_tenant_leakage_attempts_total`` and audited with the owner's tenant left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from ragd.api.deps import audit
from ragd.domain.accounts import Principal
from ragd.errors import NotFound
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
