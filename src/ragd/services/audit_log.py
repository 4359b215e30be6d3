"""LoggedAudit: every audit entry also as one line of the structured log.

The audit table is what the admin API and the GDPR export read; the log is what an
operator has at hand: ``kubectl logs deploy/ragd-api | grep audit | jq .`` (and
``grep cross_tenant`` for probes of another tenant's documents) must find the same
entries, with the tenant, the user, the action, the outcome, the time and the client's IP.
The mirror sits here, around the port, so every writer of the audit log (routes,
authentication, GDPR, quotas) is mirrored and no adapter has to know about logging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ragd.domain.accounts import AuditEntry, QueryRecord
from ragd.domain.models import TenantId
from ragd.observability.logging import get_logger
from ragd.ports.audit import Audit

log = get_logger("ragd.audit")


class LoggedAudit:
    """An ``Audit`` that logs each ``record`` (event ``audit``) after storing it."""

    def __init__(self, inner: Audit) -> None:
        self.inner = inner

    def record(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        action: str,
        resource: str | None,
        outcome: str,
        client_ip: str | None,
        request_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.inner.record(
            tenant,
            user_id=user_id,
            action=action,
            resource=resource,
            outcome=outcome,
            client_ip=client_ip,
            request_id=request_id,
            detail=detail,
        )
        emit = log.warning if "cross_tenant" in action or outcome == "denied" else log.info
        emit(
            "audit",
            audit=True,
            tenant_id=tenant,
            user_id=user_id,
            action=action,
            resource=resource,
            outcome=outcome,
            client_ip=client_ip,
            request_id=request_id,
            detail=detail or {},
        )

    def entries(
        self,
        tenant: TenantId,
        *,
        action: str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        return self.inner.entries(
            tenant, action=action, user_id=user_id, limit=limit, offset=offset
        )

    def pseudonymise_user(self, tenant: TenantId, user_id: str, alias: str) -> int:
        return self.inner.pseudonymise_user(tenant, user_id, alias)

    def delete_tenant(self, tenant: TenantId) -> int:
        return self.inner.delete_tenant(tenant)

    def record_query(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        request_id: str | None,
        kind: str,
        text: str,
        access: str | None = None,
    ) -> None:
        self.inner.record_query(
            tenant, user_id=user_id, request_id=request_id, kind=kind, text=text, access=access
        )

    def queries(
        self, tenant: TenantId, *, user_id: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[QueryRecord]:
        return self.inner.queries(tenant, user_id=user_id, limit=limit, offset=offset)

    def anonymize_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        return self.inner.anonymize_queries(tenant, user_id=user_id)

    def delete_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        return self.inner.delete_queries(tenant, user_id=user_id)

    def record_usage(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        request_id: str | None,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
    ) -> None:
        self.inner.record_usage(
            tenant,
            user_id=user_id,
            request_id=request_id,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
        )

    def tokens_since(self, tenant: TenantId, since: datetime) -> int:
        return self.inner.tokens_since(tenant, since)

    def usage(
        self, tenant: TenantId, *, user_id: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        return self.inner.usage(tenant, user_id=user_id, since=since)

    def delete_usage(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        return self.inner.delete_usage(tenant, user_id=user_id)
