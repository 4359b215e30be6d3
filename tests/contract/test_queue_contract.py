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


# -- fairness: one tenant's backlog never holds another tenant's first document ---------------


def _tenants(tenant: TenantId, n: int) -> list[TenantId]:
    return [TenantId(f"{tenant}-{i}") for i in range(n)]


def test_claim_takes_every_tenants_oldest_job_before_anyones_second(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    a, b, c = _tenants(tenant, 3)
    a_docs = [_doc_with_job(store, queue, a, f"a{i}") for i in range(6)]  # a's backlog first
    b_doc = _doc_with_job(store, queue, b, "b0")
    c_doc = _doc_with_job(store, queue, c, "c0")
    first = queue.claim("W", limit=3, lease_seconds=30)
    assert {(j.tenant_id, j.document_id) for j in first} == {(a, a_docs[0]), (b, b_doc), (c, c_doc)}
    # With only a waiting, a claim fills up with a's jobs, oldest first.
    rest = queue.claim("W", limit=10, lease_seconds=30)
    assert [j.document_id for j in rest] == a_docs[1:]


def test_a_tenant_being_served_waits_behind_one_that_is_not(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    a, b = _tenants(tenant, 2)
    _doc_with_job(store, queue, a, "a-big")
    [running] = queue.claim("W1", limit=1, lease_seconds=30)
    assert running.tenant_id == a
    _doc_with_job(store, queue, a, "a-next")  # older than b's job, but a is being served
    b_doc = _doc_with_job(store, queue, b, "b-small")
    [nxt] = queue.claim("W2", limit=1, lease_seconds=30)
    assert (nxt.tenant_id, nxt.document_id) == (b, b_doc)


def test_claim_can_leave_out_the_tenants_a_worker_already_serves(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    a, b = _tenants(tenant, 2)
    for i in range(3):
        _doc_with_job(store, queue, a, f"a{i}")
    assert queue.claim("W", limit=5, lease_seconds=30, exclude_tenants=[a]) == []
    b_doc = _doc_with_job(store, queue, b, "b0")
    [job] = queue.claim("W", limit=5, lease_seconds=30, exclude_tenants=[a])
    assert job.document_id == b_doc


def test_cancelling_a_document_ends_its_running_job_and_fences_the_worker(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    store, queue = parts
    doc_id = _doc_with_job(store, queue, tenant, "d")
    other = _doc_with_job(store, queue, tenant, "e")
    jobs = queue.claim("W", limit=2, lease_seconds=30)
    assert queue.held("W", [j.id for j in jobs]) == {j.id for j in jobs}
    with store.transaction() as tx:
        assert queue.cancel_for_document(tx, tenant, doc_id, reason="cancelled by ann") == 1
    [mine] = [j for j in jobs if j.document_id == doc_id]
    [kept] = [j for j in jobs if j.document_id == other]
    assert queue.held("W", [j.id for j in jobs]) == {kept.id}
    assert queue.held("someone-else", [kept.id]) == set()
    with pytest.raises(LeaseLost):
        queue.extend(mine.id, "W", lease_seconds=30)
    with pytest.raises(LeaseLost), store.transaction() as tx:
        queue.complete(tx, mine.id, "W")
    with pytest.raises(LeaseLost), store.transaction() as tx:
        queue.fail(mine.id, "W", "too late", retry_at=None, tx=tx)
    got = queue.get(mine.id)
    assert got is not None and got.state == JobState.DONE and got.last_error == "cancelled by ann"
    with store.transaction() as tx:  # extend inside a transaction: the fence of a status change
        queue.extend(kept.id, "W", lease_seconds=30, tx=tx)


def test_fair_concurrent_claims_still_never_share_a_job(
    parts: tuple[SqlStore, SqlQueue], tenant: TenantId
) -> None:
    import threading

    store, queue = parts
    tenants = _tenants(tenant, 4)
    for i in range(32):
        _doc_with_job(store, queue, tenants[i % 4], f"f{i}")
    claimed: list[list[str]] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        barrier.wait()
        mine: list[str] = []
        while batch := queue.claim(name, limit=3, lease_seconds=30):
            mine.extend(j.id for j in batch)
        claimed.append(mine)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job for jobs in claimed for job in jobs]
    assert len(every) == len(set(every)) == 32
