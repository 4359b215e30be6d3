"""The outbox of an external index, on SQLite and on Postgres (as ragd's restricted role,
so row-level security applies): rows commit with the caller's transaction, the sync lease
admits one applier and fences a stale one, applied rows are pruned unless a reindex holds
them, and the version token moves with every committed write and every apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.adapters.index.qdrant.outbox import Outbox, index_outbox
from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.domain.models import TenantId
from ragd.errors import LeaseLost
from tests.contract.conftest import BACKENDS, database_url_for


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def outbox(db: Database) -> Outbox:
    return Outbox(db)


@pytest.fixture
def tenant() -> TenantId:
    return TenantId(f"t-{uuid.uuid4().hex[:12]}")


def _all_rows(db: Database) -> int:
    from sqlalchemy import func, select

    with db.read(SYSTEM) as conn:
        return int(conn.execute(select(func.count()).select_from(index_outbox)).scalar_one())


def test_rows_commit_and_roll_back_with_the_callers_transaction(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    v0 = outbox.stamp(tenant)
    with db.write() as tx:
        outbox.append(tx, tenant, "d1", "upsert", b"points")
    v1 = outbox.stamp(tenant)
    assert v1 != v0
    with pytest.raises(RuntimeError), db.write() as tx:
        outbox.append(tx, tenant, "d2", "delete", None)
        raise RuntimeError("roll back")
    assert outbox.stamp(tenant) == v1
    rows = outbox.pending(10)
    assert [(r.document_id, r.op, r.payload) for r in rows] == [("d1", "upsert", b"points")]
    assert outbox.backlog() == 1 and outbox.has_pending()


def test_pending_rows_come_in_write_order_across_tenants(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    other = TenantId(f"{tenant}-b")
    writes = [(tenant, "a", "upsert"), (other, "a", "upsert"), (tenant, "a", "delete")]
    for t, doc, op in writes:
        with db.write() as tx:
            outbox.append(tx, t, doc, op, None)  # type: ignore[arg-type]
    rows = outbox.pending(10)
    assert [(r.tenant_id, r.document_id, r.op) for r in rows] == writes
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert outbox.pending(2) == rows[:2]


def test_pending_documents_are_per_tenant_tombstones(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    other = TenantId(f"{tenant}-b")
    with db.write() as tx:
        outbox.append(tx, tenant, "gone", "delete", None)
        outbox.append(tx, other, "theirs", "delete", None)
    stale, applied = outbox.pending_documents(tenant, ["gone", "theirs", "kept"])
    assert stale == {"gone"}
    assert applied == 0
    owner = "sync-1"
    assert outbox.acquire(owner, 30)
    outbox.mark_applied(owner, outbox.pending(10))
    stale, applied = outbox.pending_documents(tenant, ["gone"])
    assert stale == set() and applied == 1
    assert outbox.pending_documents(other, ["theirs"]) == (set(), 1)


def test_the_lease_admits_one_applier_and_fences_a_stale_one(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    with db.write() as tx:
        outbox.append(tx, tenant, "d", "upsert", None)
    rows = outbox.pending(10)
    assert outbox.acquire("a", 30)
    assert outbox.acquire("a", 30)  # renewing one's own lease
    assert not outbox.acquire("b", 30)
    outbox.release("a")
    assert outbox.acquire("b", 0.01)  # b holds a lease that runs out at once
    import time

    time.sleep(0.05)
    assert outbox.acquire("a", 30)  # expired: taken over
    with pytest.raises(LeaseLost):
        outbox.mark_applied("b", rows)  # the stale applier records nothing
    assert outbox.backlog() == 1
    outbox.mark_applied("a", rows)
    assert outbox.backlog() == 0


def test_applied_rows_are_pruned_unless_a_reindex_holds_them(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    with db.write() as tx:
        outbox.append(tx, tenant, "before", "upsert", None)
    watermark = outbox.watermark()
    assert outbox.hold("reindex", watermark, 60)
    assert not outbox.hold("another reindex", watermark, 60)
    with db.write() as tx:
        outbox.append(tx, tenant, "during", "upsert", None)
    assert outbox.acquire("sync", 30)
    outbox.mark_applied("sync", outbox.pending(10))
    # The row before the watermark is gone; the one written during the build stays for
    # replay onto the new collection, applied.
    assert [r.document_id for r in outbox.rows_after(0, 10)] == ["during"]
    assert outbox.backlog() == 0 and _all_rows(db) == 1
    outbox.release_hold("reindex")
    with db.write() as tx:
        outbox.append(tx, tenant, "after", "upsert", None)
    outbox.mark_applied("sync", outbox.pending(10))
    assert _all_rows(db) == 0


def test_version_token_moves_with_writes_applies_and_epochs_only(
    db: Database, outbox: Outbox, tenant: TenantId
) -> None:
    other = TenantId(f"{tenant}-b")
    tokens = [outbox.stamp(tenant)]
    with db.write() as tx:
        outbox.append(tx, tenant, "d", "upsert", None)
    tokens.append(outbox.stamp(tenant))
    with db.write() as tx:
        outbox.append(tx, other, "d", "upsert", None)
    assert outbox.stamp(tenant) == tokens[-1]  # another tenant's write is not ours
    assert outbox.acquire("s", 30)
    outbox.mark_applied("s", [r for r in outbox.pending(10) if r.tenant_id == tenant])
    tokens.append(outbox.stamp(tenant))
    outbox.new_epoch()
    tokens.append(outbox.stamp(tenant))
    assert len(set(tokens)) == len(tokens)
    assert outbox.applied(tenant) == 1 and outbox.applied(other) == 0


def test_drift_report_round_trips(outbox: Outbox) -> None:
    assert outbox.last_drift() is None
    outbox.record_drift({"missing": 2, "orphans": 1})
    assert outbox.last_drift() == {"missing": 2, "orphans": 1}
