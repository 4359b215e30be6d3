"""SqlPromptTemplates: the PromptTemplates port on the Store's database.

One row per version; ``(tenant_id, scope, version)`` is unique, so two admins saving at
once cannot both become version n (the second gets a clear error and saves again).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.integrations_schema import prompt_templates
from ragd.domain.models import TenantId, utcnow
from ragd.domain.prompts import PromptStyle, TemplateVersion
from ragd.errors import InvalidRequest, NotFound

t = prompt_templates


def _version(row: Row[Any]) -> TemplateVersion:
    m = row._mapping
    created: datetime = m["created_at"]
    return TemplateVersion(
        tenant_id=TenantId(m["tenant_id"]),
        scope=m["scope"],
        version=m["version"],
        style=PromptStyle.from_dict(dict(m["body"] or {})),
        created_by=m["created_by"],
        note=m["note"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )


class SqlPromptTemplates:
    def __init__(self, db: Database) -> None:
        self.db = db

    def current(self, tenant: TenantId, scope: str) -> TemplateVersion | None:
        row = self.db.run_read(
            lambda conn: conn.execute(
                select(t)
                .where(t.c.tenant_id == tenant, t.c.scope == scope)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first(),
            tenant,
        )
        return _version(row) if row is not None else None

    def get(self, tenant: TenantId, scope: str, version: int) -> TemplateVersion:
        row = self.db.run_read(
            lambda conn: conn.execute(
                select(t).where(t.c.tenant_id == tenant, t.c.scope == scope, t.c.version == version)
            ).first(),
            tenant,
        )
        if row is None:
            raise NotFound(f"no prompt template version {version}")
        return _version(row)

    def versions(self, tenant: TenantId, scope: str) -> list[TemplateVersion]:
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(t)
                .where(t.c.tenant_id == tenant, t.c.scope == scope)
                .order_by(t.c.version.desc())
            ).all(),
            tenant,
        )
        return [_version(r) for r in rows]

    def add(
        self, tenant: TenantId, scope: str, style: PromptStyle, *, created_by: str | None, note: str
    ) -> TemplateVersion:
        try:
            with self.db.write(tenant) as conn:
                newest = conn.execute(
                    select(func.max(t.c.version)).where(t.c.tenant_id == tenant, t.c.scope == scope)
                ).scalar()
                conn.execute(
                    insert(t).values(
                        tenant_id=tenant,
                        scope=scope,
                        version=(newest or 0) + 1,
                        body=style.to_dict(),
                        created_by=created_by,
                        note=note,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            raise InvalidRequest(
                "another change to this template was saved at the same moment; save again"
            ) from None
        current = self.current(tenant, scope)
        assert current is not None
        return current
