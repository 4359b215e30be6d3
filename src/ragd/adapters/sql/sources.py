"""SourceStore on SQL: sources, their runs' leases and their items.

Every statement is scoped to the source's tenant (row-level security on Postgres), except
the scheduler's and the folder watcher's cross-tenant reads (``due``,
``running_tenants``, ``folders``), which run in the system scope. A run holds its source
with a lease (owner + expiry) taken by one conditional ``UPDATE``, so two workers never run
one source at once; the writes that end a run are fenced by the same owner, so a run
presumed dead cannot record over its successor.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.adapters.sql.sources_schema import source_items, sources
from ragd.domain.models import TenantId, utcnow
from ragd.domain.sources import (
    ItemRecord,
    NewSource,
    RunOutcome,
    Source,
    SourceItem,
    SyncCounts,
)
from ragd.errors import InvalidRequest, LeaseLost, NotFound

_KEY_CHUNK = 500
"""Keys per ``IN (...)`` (SQLite's parameter limit is far above; keeps statements small)."""


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _source(row: Row[Any], item_count: int = 0, now: datetime | None = None) -> Source:
    m = row._mapping
    expires = _aware(m["lease_expires_at"])
    running = m["lease_owner"] is not None and expires is not None and expires > (now or utcnow())
    outcome = m["last_outcome"]
    return Source(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        name=m["name"],
        kind=m["kind"],
        config=dict(m["config"] or {}),
        has_secret=bool(m["secret"]),
        interval_seconds=int(m["interval_seconds"]),
        enabled=bool(m["enabled"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        updated_at=_aware(m["updated_at"]),  # type: ignore[arg-type]
        run_number=int(m["run_number"]),
        running=running,
        last_started_at=_aware(m["last_started_at"]),
        last_finished_at=_aware(m["last_finished_at"]),
        last_outcome=outcome,
        last_error=m["last_error"],
        last_counts=SyncCounts.from_dict(m["last_counts"]),
        next_run_at=_aware(m["next_run_at"]),
        item_count=item_count,
    )


def _item(row: Row[Any]) -> SourceItem:
    m = row._mapping
    return SourceItem(
        key=m["key"],
        document_id=m["document_id"],
        change_key=m["change_key"],
        seen_run=int(m["seen_run"]),
        validators=dict(m["validators"] or {}),
        links=tuple(m["links"] or ()),
        error=m["error"],
    )


_PUBLIC = [c for c in sources.c if c.name != "secret"] + [
    (sources.c.secret.is_not(None)).label("secret")
]
"""Every column but the sealed secret itself (only whether there is one)."""


class SqlSourceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- sources -----------------------------------------------------------------
    def create(self, tenant: TenantId, new: NewSource, *, next_run_at: datetime) -> Source:
        now = utcnow()
        source_id = str(uuid.uuid4())
        try:
            with self.db.write(tenant) as conn:
                conn.execute(
                    insert(sources).values(
                        id=source_id,
                        tenant_id=tenant,
                        name=new.name,
                        kind=new.kind,
                        config=new.config,
                        secret=new.sealed_secret,
                        interval_seconds=new.interval_seconds,
                        enabled=new.enabled,
                        created_at=now,
                        updated_at=now,
                        run_number=0,
                        next_run_at=next_run_at,
                    )
                )
        except IntegrityError:
            raise InvalidRequest(f"a source named {new.name!r} already exists") from None
        return self.get(tenant, source_id)

    def get(self, tenant: TenantId, source_id: str) -> Source:
        def read(conn: Any) -> Source | None:
            row = conn.execute(
                select(*_PUBLIC).where(sources.c.tenant_id == tenant, sources.c.id == source_id)
            ).first()
            if row is None:
                return None
            n = conn.execute(
                select(func.count()).where(
                    source_items.c.source_id == source_id, source_items.c.tenant_id == tenant
                )
            ).scalar_one()
            return _source(row, int(n))

        found = self.db.run_read(read, tenant)
        if found is None:
            raise NotFound(f"source {source_id} not found")
        return found

    def find(self, tenant: TenantId, name: str) -> Source | None:
        def read(conn: Any) -> str | None:
            return conn.execute(  # type: ignore[no-any-return]
                select(sources.c.id).where(sources.c.tenant_id == tenant, sources.c.name == name)
            ).scalar_one_or_none()

        source_id = self.db.run_read(read, tenant)
        return None if source_id is None else self.get(tenant, source_id)

    def list_sources(self, tenant: TenantId) -> list[Source]:
        def read(conn: Any) -> list[Source]:
            counts = dict(
                conn.execute(
                    select(source_items.c.source_id, func.count())
                    .where(source_items.c.tenant_id == tenant)
                    .group_by(source_items.c.source_id)
                ).all()
            )
            rows = conn.execute(
                select(*_PUBLIC).where(sources.c.tenant_id == tenant).order_by(sources.c.name)
            ).all()
            return [_source(r, int(counts.get(r._mapping["id"], 0))) for r in rows]

        return self.db.run_read(read, tenant)

    def update(
        self,
        tenant: TenantId,
        source_id: str,
        *,
        config: dict[str, Any] | None = None,
        interval_seconds: int | None = None,
        enabled: bool | None = None,
        sealed_secret: bytes | None = None,
        clear_secret: bool = False,
        next_run_at: datetime | None = None,
    ) -> Source:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if config is not None:
            values["config"] = config
        if interval_seconds is not None:
            values["interval_seconds"] = interval_seconds
        if enabled is not None:
            values["enabled"] = enabled
        if sealed_secret is not None:
            values["secret"] = sealed_secret
        elif clear_secret:
            values["secret"] = None
        if next_run_at is not None:
            values["next_run_at"] = next_run_at
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(sources)
                .where(sources.c.tenant_id == tenant, sources.c.id == source_id)
                .values(**values)
            ).rowcount
        if n == 0:
            raise NotFound(f"source {source_id} not found")
        return self.get(tenant, source_id)

    def delete(self, tenant: TenantId, source_id: str) -> None:
        with self.db.write(tenant) as conn:
            conn.execute(
                delete(source_items).where(
                    source_items.c.tenant_id == tenant, source_items.c.source_id == source_id
                )
            )
            n = conn.execute(
                delete(sources).where(sources.c.tenant_id == tenant, sources.c.id == source_id)
            ).rowcount
        if n == 0:
            raise NotFound(f"source {source_id} not found")

    def sealed_secret(self, tenant: TenantId, source_id: str) -> bytes | None:
        def read(conn: Any) -> Any:
            return conn.execute(
                select(sources.c.secret).where(
                    sources.c.tenant_id == tenant, sources.c.id == source_id
                )
            ).first()

        row = self.db.run_read(read, tenant)
        if row is None:
            raise NotFound(f"source {source_id} not found")
        return bytes(row[0]) if row[0] is not None else None

    # -- runs --------------------------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[tuple[TenantId, str]]:
        def read(conn: Any) -> list[tuple[TenantId, str]]:
            rows = conn.execute(
                select(sources.c.tenant_id, sources.c.id)
                .where(
                    sources.c.enabled.is_(True),
                    sources.c.next_run_at <= now,
                    or_(sources.c.lease_expires_at.is_(None), sources.c.lease_expires_at < now),
                )
                .order_by(sources.c.next_run_at, sources.c.id)
                .limit(limit)
            ).all()
            return [(TenantId(t), i) for t, i in rows]

        return self.db.run_read(read, SYSTEM)  # every tenant: the scheduler

    def folders(self, limit: int) -> list[tuple[TenantId, str, str]]:
        def read(conn: Any) -> list[tuple[TenantId, str, str]]:
            rows = conn.execute(
                select(sources.c.tenant_id, sources.c.id, sources.c.config)
                .where(sources.c.enabled.is_(True), sources.c.kind == "folder")
                .order_by(sources.c.created_at, sources.c.id)
                .limit(limit)
            ).all()
            return [
                (TenantId(t), i, str(c["path"]))
                for t, i, c in rows
                if isinstance(c, dict) and isinstance(c.get("path"), str)
            ]

        return self.db.run_read(read, SYSTEM)  # every tenant: the folder watcher

    def running_tenants(self, now: datetime) -> set[TenantId]:
        def read(conn: Any) -> set[TenantId]:
            rows = conn.execute(
                select(sources.c.tenant_id)
                .where(sources.c.lease_owner.is_not(None), sources.c.lease_expires_at >= now)
                .distinct()
            ).all()
            return {TenantId(r[0]) for r in rows}

        return self.db.run_read(read, SYSTEM)

    def start_run(
        self, tenant: TenantId, source_id: str, owner: str, *, lease_seconds: float, now: datetime
    ) -> Source | None:
        expires = now + timedelta(seconds=lease_seconds)
        with self.db.write(tenant) as conn:
            row = conn.execute(
                select(
                    sources.c.lease_owner,
                    sources.c.lease_expires_at,
                    sources.c.last_started_at,
                    sources.c.last_finished_at,
                    sources.c.last_counts,
                ).where(sources.c.tenant_id == tenant, sources.c.id == source_id)
            ).first()
            if row is None:
                raise NotFound(f"source {source_id} not found")
            held_until = _aware(row.lease_expires_at)
            if row.lease_owner is not None and held_until is not None and held_until >= now:
                return None
            values: dict[str, Any] = {
                "lease_owner": owner,
                "lease_expires_at": expires,
                "run_number": sources.c.run_number + 1,
                "last_started_at": now,
            }
            if row.lease_owner is not None:
                # A run whose holder died: say so in the status; this run finishes its work.
                values["last_outcome"] = "interrupted"
                values["last_error"] = f"the run of {row.lease_owner} stopped without finishing"
            n = conn.execute(
                update(sources)
                .where(
                    sources.c.tenant_id == tenant,
                    sources.c.id == source_id,
                    or_(sources.c.lease_owner.is_(None), sources.c.lease_expires_at < now),
                )
                .values(**values)
            ).rowcount
        if n == 0:
            return None  # taken between the read and the update
        return self.get(tenant, source_id)

    def renew(
        self, tenant: TenantId, source_id: str, owner: str, *, lease_seconds: float, now: datetime
    ) -> None:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(sources)
                .where(
                    sources.c.tenant_id == tenant,
                    sources.c.id == source_id,
                    sources.c.lease_owner == owner,
                )
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            ).rowcount
        if n == 0:
            raise LeaseLost(f"source {source_id}: the run's lease was taken over")

    def finish_run(
        self,
        tenant: TenantId,
        source_id: str,
        owner: str,
        *,
        outcome: RunOutcome,
        counts: SyncCounts,
        error: str | None,
        next_run_at: datetime,
        now: datetime,
    ) -> None:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(sources)
                .where(
                    sources.c.tenant_id == tenant,
                    sources.c.id == source_id,
                    sources.c.lease_owner == owner,
                )
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    last_finished_at=now,
                    last_outcome=outcome,
                    last_error=error,
                    last_counts=counts.as_dict(),
                    next_run_at=next_run_at,
                )
            ).rowcount
        if n == 0:
            raise LeaseLost(f"source {source_id}: the run's lease was taken over")

    # -- items -------------------------------------------------------------------
    def items(self, tenant: TenantId, source_id: str, keys: Sequence[str]) -> dict[str, SourceItem]:
        found: dict[str, SourceItem] = {}
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = list(keys[start : start + _KEY_CHUNK])

            def read(conn: Any, chunk: list[str] = chunk) -> list[Row[Any]]:
                return list(
                    conn.execute(
                        select(source_items).where(
                            source_items.c.tenant_id == tenant,
                            source_items.c.source_id == source_id,
                            source_items.c.key.in_(chunk),
                        )
                    ).all()
                )

            for row in self.db.run_read(read, tenant):
                item = _item(row)
                found[item.key] = item
        return found

    def put_item(self, tenant: TenantId, source_id: str, record: ItemRecord, *, run: int) -> None:
        values = {
            "document_id": record.document_id,
            "change_key": record.change_key,
            "validators": dict(record.validators),
            "links": list(record.links),
            "seen_run": run,
            "error": record.error,
            "updated_at": utcnow(),
        }
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(source_items)
                .where(
                    source_items.c.tenant_id == tenant,
                    source_items.c.source_id == source_id,
                    source_items.c.key == record.key,
                )
                .values(**values)
            ).rowcount
            if n == 0:
                conn.execute(
                    insert(source_items).values(
                        source_id=source_id, key=record.key, tenant_id=tenant, **values
                    )
                )

    def mark_seen(self, tenant: TenantId, source_id: str, keys: Sequence[str], *, run: int) -> None:
        if not keys:
            return
        with self.db.write(tenant) as conn:
            for start in range(0, len(keys), _KEY_CHUNK):
                conn.execute(
                    update(source_items)
                    .where(
                        source_items.c.tenant_id == tenant,
                        source_items.c.source_id == source_id,
                        source_items.c.key.in_(list(keys[start : start + _KEY_CHUNK])),
                    )
                    .values(seen_run=run)
                )

    def unseen_items(
        self, tenant: TenantId, source_id: str, *, run: int, limit: int
    ) -> list[SourceItem]:
        def read(conn: Any) -> list[SourceItem]:
            rows = conn.execute(
                select(source_items)
                .where(
                    source_items.c.tenant_id == tenant,
                    source_items.c.source_id == source_id,
                    source_items.c.seen_run < run,
                )
                .order_by(source_items.c.key)
                .limit(limit)
            ).all()
            return [_item(r) for r in rows]

        return self.db.run_read(read, tenant)

    def all_items(self, tenant: TenantId, source_id: str, *, limit: int) -> list[SourceItem]:
        def read(conn: Any) -> list[SourceItem]:
            rows = conn.execute(
                select(source_items)
                .where(source_items.c.tenant_id == tenant, source_items.c.source_id == source_id)
                .order_by(source_items.c.key)
                .limit(limit)
            ).all()
            return [_item(r) for r in rows]

        return self.db.run_read(read, tenant)

    def delete_item(self, tenant: TenantId, source_id: str, key: str) -> None:
        with self.db.write(tenant) as conn:
            conn.execute(
                delete(source_items).where(
                    source_items.c.tenant_id == tenant,
                    source_items.c.source_id == source_id,
                    source_items.c.key == key,
                )
            )

    def document_shared(self, tenant: TenantId, source_id: str, document_id: str) -> bool:
        def read(conn: Any) -> bool:
            return (
                conn.execute(
                    select(source_items.c.key)
                    .where(
                        source_items.c.tenant_id == tenant,
                        source_items.c.document_id == document_id,
                        source_items.c.source_id != source_id,
                    )
                    .limit(1)
                ).first()
                is not None
            )

        return self.db.run_read(read, tenant)
