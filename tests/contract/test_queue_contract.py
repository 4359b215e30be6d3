"""Queue contract: leases, fencing, retries and dead letters (SQLite and Postgres)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.queue import SqlQueue
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import JobState, NewDocument, TenantId, utcnow
from ragd.errors import LeaseLost
from tests.contract.conftest import BACKENDS, database_url_for


@pytest.fixture(params=BACKENDS)
def parts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStore, SqlQueue]]:
    db = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(db)
    yield SqlStore(db), SqlQueue(db, max_attempts=2)
    db.dispose()


def _doc_with_job(store: SqlStore, queue: SqlQueue, tenant: TenantId, name: str) -> str:
    store.ensure_tenant(tenant)
    with store.transaction() as tx:
        doc = store.create_document(tx, tenant, NewDocument(name, name, "text/plain", name, 1))
        queue.enqueue(tx, tenant, doc.id)
    return doc.id


def test_claim_gives_each_job_to_one_worker(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    for i in range(5):
        _doc_with_job(store, queue, tenant, f"d{i}")
    a = queue.claim("A", limit=3, lease_seconds=30)
    b = queue.claim("B", limit=3, lease_seconds=30)
    assert len(a) == 3 and len(b) == 2
    assert not {j.id for j in a} & {j.id for j in b}
    assert all(j.state == JobState.RUNNING and j.attempts == 1 for j in a + b)
    assert queue.claim("C", limit=3, lease_seconds=30) == []
    assert queue.pending() == 5 and queue.pending(tenant) == 5


def test_expired_lease_is_reclaimed_and_old_owner_is_fenced(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    _doc_with_job(store, queue, tenant, "d")
    [job] = queue.claim("A", limit=1, lease_seconds=0.05)
    time.sleep(0.1)
    [again] = queue.claim("B", limit=1, lease_seconds=30)
    assert again.id == job.id and again.attempts == 2
    with pytest.raises(LeaseLost), store.transaction() as tx:
        queue.complete(tx, job.id, "A")
    with pytest.raises(LeaseLost):
        queue.extend(job.id, "A", lease_seconds=30)
    with store.transaction() as tx:
        queue.complete(tx, job.id, "B")
    assert queue.counts()[JobState.DONE] == 1 and queue.pending() == 0


def test_fail_requeues_then_dead_letters(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    _doc_with_job(store, queue, tenant, "d")
    [job] = queue.claim("A", limit=1, lease_seconds=30)
    assert (
        queue.fail(job.id, "A", "flaky", retry_at=utcnow() + timedelta(seconds=60))
        == JobState.QUEUED
    )
    assert queue.claim("A", limit=1, lease_seconds=30) == []  # not before run_after
    with pytest.raises(LeaseLost):
        queue.fail(job.id, "A", "not leased any more", retry_at=None)
    queue.retry_dead()  # nothing dead yet
    assert queue.counts()[JobState.QUEUED] == 1


def test_dead_letter_and_retry_dead(parts: tuple[SqlStore, SqlQueue], tenant: TenantId) -> None:
    store, queue = parts
    _doc_with_job(store, queue, tenant, "d")
    [job] = queue.claim("A", limit=1, lease_seconds=30)
    assert queue.fail(job.id, "A", "broken", retry_at=None) == JobState.FAILED
    assert queue.counts()[JobState.FAILED] == 1
    assert queue.retry_dead(tenant) == 1
    [again] = queue.claim("A", limit=1, lease_seconds=30)
    assert again.id == job.id and again.attempts == 1 and again.last_error == "broken"


def test_crashing_worker_exhausts_attempts_and_is_reaped(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    _doc_with_job(store, queue, tenant, "d")
    for _ in range(2):  # max_attempts=2; each "crash" leaves the lease to expire
        assert len(queue.claim("A", limit=1, lease_seconds=0.01)) == 1
        time.sleep(0.03)
    assert queue.claim("A", limit=1, lease_seconds=30) == []
    [dead] = queue.reap_exhausted()
    assert dead.state == JobState.FAILED and "every attempt" in (dead.last_error or "")


def test_release_returns_job_without_spending_an_attempt(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    _doc_with_job(store, queue, tenant, "d")
    [job] = queue.claim("A", limit=1, lease_seconds=30)
    queue.release(job.id, "A")
    [again] = queue.claim("B", limit=1, lease_seconds=30)
    assert again.attempts == 1


def test_enqueue_supersedes_live_job_of_same_document(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    doc_id = _doc_with_job(store, queue, tenant, "d")
    [old] = queue.claim("A", limit=1, lease_seconds=30)
    with store.transaction() as tx:
        queue.enqueue(tx, tenant, doc_id)
    with pytest.raises(LeaseLost), store.transaction() as tx:
        queue.complete(tx, old.id, "A")
    [new] = queue.claim("B", limit=1, lease_seconds=30)
    assert new.id != old.id and new.document_id == doc_id


def test_concurrent_claims_never_share_a_job(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    """Workers claiming at the same moment (SKIP LOCKED on Postgres, the write lock on
    SQLite) split the jobs between them: none is claimed twice, none is lost."""
    import threading

    store, queue = parts
    for i in range(40):
        _doc_with_job(store, queue, tenant, f"c{i}")
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        barrier.wait()
        mine: list[str] = []
        while batch := queue.claim(name, limit=3, lease_seconds=30):
            mine.extend(j.id for j in batch)
        claimed[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job for jobs in claimed.values() for job in jobs]
    assert len(every) == len(set(every)) == 40
