"""The outbox of an external index: its writes as rows of the Store, and the sync's state.

Qdrant cannot take part in the Store's transaction, so ``QdrantIndex`` writes nothing to
Qdrant when a document changes: it appends a row here through the Store's transaction (the
same one that replaces or deletes the chunks), and a sync applies the rows later
(``sync.py``). What commits together:

- ``index_outbox``: one row per document write, ``upsert`` (its points, encoded) or
  ``delete``; ``applied_at`` is set once Qdrant holds the result. A row not applied yet is
  a *tombstone* for its document: search leaves the document out (``QdrantIndex.search``),
  so a deleted or replaced document is never returned in a state the Store no longer has,
  however far the sync is behind.
- ``index_sync_tenants``: per tenant, a counter bumped by every write (``version``) and one
  bumped by every apply (``applied``); the index's version token is made of both and the
  ``epoch``, so the answer cache never serves results from before a change.
- ``index_sync_state``: one row per key, not tenant-scoped: the sync ``lease`` (one applier
  at a time, which is what keeps rows of a document in order), the ``epoch`` (changes when
  the live collection is swapped), the reindex ``hold`` (keeps applied rows for replay onto
  a collection being built) and the last reconcile's ``drift``.

Applied rows are deleted right away, except those a reindex hold still needs. The tables
come from Alembic revision 0004; on Postgres the two tenant-scoped ones are under row-level
security: writes run in the tenant's scope, the sync's cross-tenant steps in ``SYSTEM``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM, scoped
from ragd.domain.models import TenantId, utcnow
from ragd.errors import LeaseLost
from ragd.ports.store import Transaction

Op = Literal["upsert", "delete"]

LEASE_KEY = "lease"
EPOCH_KEY = "epoch"
HOLD_KEY = "hold"
DRIFT_KEY = "drift"
STATE_KEYS = (LEASE_KEY, EPOCH_KEY, HOLD_KEY, DRIFT_KEY)

metadata = MetaData()
_pk = BigInteger().with_variant(Integer(), "sqlite")

index_outbox = Table(
    "index_outbox",
    metadata,
    Column("id", _pk, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False),
    Column("document_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("payload", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True)),
)

index_sync_tenants = Table(
    "index_sync_tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),
)

index_sync_state = Table(
    "index_sync_state",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", Text),
    Column("owner", String(200)),
    Column("expires_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    tenant_id: TenantId
    document_id: str
    op: Op
    payload: bytes | None


class Outbox:
    """The outbox tables, through the Store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ writers

    def append(
        self, tx: Transaction, tenant: TenantId, document_id: str, op: Op, payload: bytes | None
    ) -> None:
        """One document write, in the caller's (the Store's) transaction."""
        conn = scoped(tx, tenant)
        conn.execute(
            index_outbox.insert().values(
                tenant_id=tenant,
                document_id=document_id,
                op=op,
                payload=payload,
                created_at=utcnow(),
            )
        )
        self._bump(conn, [tenant], "version")

    # ------------------------------------------------------------------ readers

    def stamp(self, tenant: TenantId) -> str:
        """``epoch:version:applied`` of the tenant: moves with every committed write and
        every apply, and with a swap of the live collection."""

        def read(conn: Connection) -> str:
            epoch = conn.execute(
                select(index_sync_state.c.value).where(index_sync_state.c.key == EPOCH_KEY)
            ).scalar()
            row = conn.execute(
                select(index_sync_tenants.c.version, index_sync_tenants.c.applied).where(
                    index_sync_tenants.c.tenant_id == tenant
                )
            ).first()
            version, applied = (int(row[0]), int(row[1])) if row else (0, 0)
            return f"{epoch or 0}:{version}:{applied}"

        return self.db.run_read(read, tenant)

    def applied(self, tenant: TenantId) -> int:
        """How many rows of the tenant have been applied, ever (moves with each apply)."""
        return self.db.run_read(lambda conn: _applied(conn, tenant), tenant)

    def pending_documents(
        self, tenant: TenantId, document_ids: Iterable[str]
    ) -> tuple[set[str], int]:
        """Which of these documents have rows not applied yet (tombstones), and the
        tenant's applied counter read in the same snapshot."""
        wanted = sorted(set(document_ids))

        def read(conn: Connection) -> tuple[set[str], int]:
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                found.update(
                    r[0]
                    for r in conn.execute(
                        select(index_outbox.c.document_id)
                        .where(
                            index_outbox.c.tenant_id == tenant,
                            index_outbox.c.document_id.in_(part),
                            index_outbox.c.applied_at.is_(None),
                        )
                        .distinct()
                    )
                )
            return found, _applied(conn, tenant)

        return self.db.run_read(read, tenant)

    def backlog(self) -> int:
        return int(
            self.db.run_read(
                lambda conn: conn.execute(
                    select(func.count())
                    .select_from(index_outbox)
                    .where(index_outbox.c.applied_at.is_(None))
                ).scalar_one(),
                SYSTEM,
            )
        )

    def has_pending(self) -> bool:
        return self.db.run_read(
            lambda conn: (
                conn.execute(
                    select(index_outbox.c.id).where(index_outbox.c.applied_at.is_(None)).limit(1)
                ).first()
                is not None
            ),
            SYSTEM,
        )

    def pending(self, limit: int) -> list[OutboxRow]:
        """The oldest rows not applied yet, in the order they were written."""
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(*_ROW_COLS)
                .where(index_outbox.c.applied_at.is_(None))
                .order_by(index_outbox.c.id)
                .limit(limit)
            ).all(),
            SYSTEM,
        )
        return [_row(r) for r in rows]

    def rows_after(self, watermark: int, limit: int) -> list[OutboxRow]:
        """Rows written after ``watermark``, applied or not, oldest first (reindex replay)."""
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(*_ROW_COLS)
                .where(index_outbox.c.id > watermark)
                .order_by(index_outbox.c.id)
                .limit(limit)
            ).all(),
            SYSTEM,
        )
        return [_row(r) for r in rows]

    def watermark(self) -> int:
        """The id of the newest row (0 for none)."""
        return int(
            self.db.run_read(
                lambda conn: conn.execute(select(func.max(index_outbox.c.id))).scalar() or 0,
                SYSTEM,
            )
        )

    # ------------------------------------------------------------------ the sync

    def acquire(self, owner: str, seconds: float) -> bool:
        """Take (or renew) the sync lease unless another live owner holds it."""
        return self._claim(LEASE_KEY, owner, seconds, value=None)

    def release(self, owner: str) -> None:
        with self.db.write(SYSTEM) as conn:
            conn.execute(
                update(index_sync_state)
                .where(index_sync_state.c.key == LEASE_KEY, index_sync_state.c.owner == owner)
                .values(owner=None, expires_at=None)
            )

    def mark_applied(self, owner: str, rows: Sequence[OutboxRow]) -> None:
        """Record that Qdrant holds these rows' results, fenced by the lease: a sync whose
        lease was taken over gets ``LeaseLost`` and records nothing. Bumps each tenant's
        applied counter and deletes applied rows no reindex hold needs."""
        if not rows:
            return
        now = utcnow()
        with self.db.write(SYSTEM) as conn:
            held = conn.execute(
                select(index_sync_state.c.owner, index_sync_state.c.expires_at).where(
                    index_sync_state.c.key == LEASE_KEY
                )
            ).first()
            if held is None or held[0] != owner:
                raise LeaseLost(f"index sync lease is no longer held by {owner}")
            ids = [r.id for r in rows]
            for start in range(0, len(ids), 500):
                conn.execute(
                    update(index_outbox)
                    .where(index_outbox.c.id.in_(ids[start : start + 500]))
                    .values(applied_at=now)
                )
            by_tenant: dict[TenantId, int] = {}
            for r in rows:
                by_tenant[r.tenant_id] = by_tenant.get(r.tenant_id, 0) + 1
            # Sorted: concurrent transactions lock tenants' counters in one order.
            self._bump(conn, sorted(by_tenant), "applied", by_tenant)
            self._prune(conn, now)

    # ------------------------------------------------------------------ reindex support

    def hold(self, owner: str, watermark: int, seconds: float) -> bool:
        """Keep applied rows after ``watermark`` while a reindex builds (False: another
        live reindex holds it)."""
        return self._claim(HOLD_KEY, owner, seconds, value=str(int(watermark)))

    def renew_hold(self, owner: str, seconds: float) -> None:
        with self.db.write(SYSTEM) as conn:
            conn.execute(
                update(index_sync_state)
                .where(index_sync_state.c.key == HOLD_KEY, index_sync_state.c.owner == owner)
                .values(expires_at=utcnow() + timedelta(seconds=seconds))
            )

    def release_hold(self, owner: str) -> None:
        with self.db.write(SYSTEM) as conn:
            conn.execute(
                update(index_sync_state)
                .where(index_sync_state.c.key == HOLD_KEY, index_sync_state.c.owner == owner)
                .values(owner=None, expires_at=None, value=None)
            )

    def new_epoch(self) -> None:
        """The live collection changed: every tenant's version token moves."""
        with self.db.write(SYSTEM) as conn:
            _ensure_state(conn)
            conn.execute(
                update(index_sync_state)
                .where(index_sync_state.c.key == EPOCH_KEY)
                .values(value=str(int(_epoch(conn)) + 1))
            )

    # ------------------------------------------------------------------ drift

    def record_drift(self, report: dict[str, Any]) -> None:
        with self.db.write(SYSTEM) as conn:
            _ensure_state(conn)
            conn.execute(
                update(index_sync_state)
                .where(index_sync_state.c.key == DRIFT_KEY)
                .values(value=json.dumps(report), expires_at=utcnow())
            )

    def last_drift(self) -> dict[str, Any] | None:
        value = self.db.run_read(
            lambda conn: conn.execute(
                select(index_sync_state.c.value).where(index_sync_state.c.key == DRIFT_KEY)
            ).scalar(),
            SYSTEM,
        )
        return json.loads(value) if value else None

    # ------------------------------------------------------------------ internals

    def _claim(self, key: str, owner: str, seconds: float, *, value: str | None) -> bool:
        now = utcnow()
        with self.db.write(SYSTEM) as conn:
            _ensure_state(conn)
            values: dict[str, Any] = {
                "owner": owner,
                "expires_at": now + timedelta(seconds=seconds),
            }
            if value is not None:
                values["value"] = value
            result = conn.execute(
                update(index_sync_state)
                .where(
                    index_sync_state.c.key == key,
                    or_(
                        index_sync_state.c.owner.is_(None),
                        index_sync_state.c.owner == owner,
                        index_sync_state.c.expires_at < now,
                    ),
                )
                .values(**values)
            )
            return bool(result.rowcount)

    def _bump(
        self,
        conn: Connection,
        tenants: Sequence[TenantId],
        column: Literal["version", "applied"],
        amounts: dict[TenantId, int] | None = None,
    ) -> None:
        """Add to a per-tenant counter (insert the tenant's row on first use)."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        for tenant in tenants:
            n = (amounts or {}).get(tenant, 1)
            stmt = dialect.insert(index_sync_tenants).values(
                tenant_id=tenant,
                version=n if column == "version" else 0,
                applied=n if column == "applied" else 0,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[index_sync_tenants.c.tenant_id],
                set_={column: index_sync_tenants.c[column] + n},
            )
            conn.execute(stmt)

    @staticmethod
    def _prune(conn: Connection, now: datetime) -> None:
        hold = conn.execute(
            select(index_sync_state.c.value, index_sync_state.c.expires_at).where(
                index_sync_state.c.key == HOLD_KEY, index_sync_state.c.owner.is_not(None)
            )
        ).first()
        cond: ColumnElement[bool] = index_outbox.c.applied_at.is_not(None)
        if hold is not None and hold[0] is not None and _aware(hold[1]) >= now:
            cond = and_(cond, index_outbox.c.id <= int(hold[0]))
        conn.execute(delete(index_outbox).where(cond))


_ROW_COLS = (
    index_outbox.c.id,
    index_outbox.c.tenant_id,
    index_outbox.c.document_id,
    index_outbox.c.op,
    index_outbox.c.payload,
)


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        id=int(r[0]),
        tenant_id=TenantId(r[1]),
        document_id=r[2],
        op=r[3],
        payload=bytes(r[4]) if r[4] is not None else None,
    )


def _applied(conn: Connection, tenant: TenantId) -> int:
    value = conn.execute(
        select(index_sync_tenants.c.applied).where(index_sync_tenants.c.tenant_id == tenant)
    ).scalar()
    return int(value or 0)


def _epoch(conn: Connection) -> str:
    value = conn.execute(
        select(index_sync_state.c.value).where(index_sync_state.c.key == EPOCH_KEY)
    ).scalar()
    return value or "0"


def _ensure_state(conn: Connection) -> None:
    """The state rows exist from migration 0004 on; recreate any a hand edit removed."""
    have = {r[0] for r in conn.execute(select(index_sync_state.c.key))}
    for key in STATE_KEYS:
        if key not in have:
            conn.execute(
                index_sync_state.insert().values(key=key, value="0" if key == EPOCH_KEY else None)
            )


def _aware(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.min.replace(tzinfo=UTC)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
