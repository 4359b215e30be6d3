"""Audit port on SQL: audit log (insert-only apart from GDPR erasure), query log, usage.

Every method is about one tenant, and so is its transaction's row-level-security scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from ragd.adapters.sql.accounts_schema import audit_log, query_log, usage_events
from ragd.adapters.sql.database import Database
from ragd.domain.accounts import AuditEntry, QueryRecord
from ragd.domain.models import TenantId, utcnow

ANONYMIZED = "[anonymized]"


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _entry(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        action=m["action"],
        resource=m["resource"],
        outcome=m["outcome"],
        client_ip=m["client_ip"],
        request_id=m["request_id"],
        created_at=_aware(m["created_at"]),
        detail=dict(m["detail"] or {}),
    )


def _query(row: Row[Any]) -> QueryRecord:
    m = row._mapping
    return QueryRecord(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        request_id=m["request_id"],
        kind=m["kind"],
        text=m["text"],
        created_at=_aware(m["created_at"]),
    )


class SqlAudit:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(audit_log).values(
                    tenant_id=tenant,
                    user_id=user_id,
                    action=action,
                    resource=resource,
                    outcome=outcome,
                    client_ip=client_ip,
                    request_id=request_id,
                    detail=detail or {},
                    created_at=utcnow(),
                )
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
        q = select(audit_log).where(audit_log.c.tenant_id == tenant)
        if action:
            q = q.where(audit_log.c.action == action)
        if user_id:
            q = q.where(audit_log.c.user_id == user_id)
        with self.db.read(tenant) as conn:
            rows = conn.execute(q.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)).all()
        return [_entry(r) for r in rows]

    def pseudonymise_user(self, tenant: TenantId, user_id: str, alias: str) -> int:
        """Audit entries and usage rows keep their facts but lose the person."""
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(audit_log)
                .where(audit_log.c.tenant_id == tenant, audit_log.c.user_id == user_id)
                .values(user_id=alias, client_ip=None)
            ).rowcount
            n += conn.execute(
                update(usage_events)
                .where(usage_events.c.tenant_id == tenant, usage_events.c.user_id == user_id)
                .values(user_id=alias)
            ).rowcount
        return int(n)

    def delete_tenant(self, tenant: TenantId) -> int:
        with self.db.write(tenant) as conn:
            n = conn.execute(delete(audit_log).where(audit_log.c.tenant_id == tenant)).rowcount
            n += conn.execute(delete(query_log).where(query_log.c.tenant_id == tenant)).rowcount
            n += conn.execute(
                delete(usage_events).where(usage_events.c.tenant_id == tenant)
            ).rowcount
        return int(n)

    # -- query log -------------------------------------------------------------------
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
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(query_log).values(
                    tenant_id=tenant,
                    user_id=user_id,
                    request_id=request_id,
                    kind=kind,
                    text=text,
                    access=access,
                    created_at=utcnow(),
                )
            )

    def queries(
        self, tenant: TenantId, *, user_id: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[QueryRecord]:
        q = select(query_log).where(query_log.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(query_log.c.user_id == user_id)
        with self.db.read(tenant) as conn:
            rows = conn.execute(q.order_by(query_log.c.id).limit(limit).offset(offset)).all()
        return [_query(r) for r in rows]

    def anonymize_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        q = update(query_log).where(query_log.c.tenant_id == tenant, query_log.c.text != ANONYMIZED)
        if user_id is not None:
            q = q.where(query_log.c.user_id == user_id)
        with self.db.write(tenant) as conn:
            return int(conn.execute(q.values(text=ANONYMIZED, user_id=None)).rowcount)

    def delete_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        q = delete(query_log).where(query_log.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(query_log.c.user_id == user_id)
        with self.db.write(tenant) as conn:
            return int(conn.execute(q).rowcount)

    # -- usage -----------------------------------------------------------------------
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
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(usage_events).values(
                    tenant_id=tenant,
                    user_id=user_id,
                    request_id=request_id,
                    model=model,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=cost_usd,
                    created_at=utcnow(),
                )
            )

    def tokens_since(self, tenant: TenantId, since: datetime) -> int:
        with self.db.read(tenant) as conn:
            total = conn.execute(
                select(
                    func.coalesce(
                        func.sum(usage_events.c.prompt_tokens + usage_events.c.completion_tokens),
                        0,
                    )
                ).where(usage_events.c.tenant_id == tenant, usage_events.c.created_at >= since)
            ).scalar_one()
        return int(total)

    def usage(
        self, tenant: TenantId, *, user_id: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        q = select(
            usage_events.c.model,
            func.count().label("requests"),
            func.sum(usage_events.c.prompt_tokens).label("prompt_tokens"),
            func.sum(usage_events.c.completion_tokens).label("completion_tokens"),
            func.sum(usage_events.c.cost_usd).label("cost_usd"),
        ).where(usage_events.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(usage_events.c.user_id == user_id)
        if since is not None:
            q = q.where(usage_events.c.created_at >= since)
        with self.db.read(tenant) as conn:
            rows = conn.execute(q.group_by(usage_events.c.model)).all()
        return [
            {
                "model": r.model,
                "requests": int(r.requests),
                "prompt_tokens": int(r.prompt_tokens or 0),
                "completion_tokens": int(r.completion_tokens or 0),
                "cost_usd": round(float(r.cost_usd or 0.0), 6),
            }
            for r in rows
        ]

    def delete_usage(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        q = delete(usage_events).where(usage_events.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(usage_events.c.user_id == user_id)
        with self.db.write(tenant) as conn:
            return int(conn.execute(q).rowcount)
