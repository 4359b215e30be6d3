"""Ingestion queue as a table in the Store.

Claims are one ``WITH picked AS MATERIALIZED (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)
UPDATE … WHERE id IN (SELECT id FROM picked) RETURNING``: atomic on SQLite (which
serialises writers and ignores the locking clause) and on Postgres, where concurrent
workers skip each other's locked rows instead of queueing behind them, so two workers never
hold the same job. Expired leases are claimable again, which is how a job of a crashed
worker is retried. The pick is fair across tenants: it numbers each tenant's waiting jobs
and takes every tenant's next one (a tenant already being served last) before anyone's
second, so one tenant's backlog never holds another's first document.

Row-level security (Postgres): enqueueing and superseding belong to the document's tenant.
The worker's side is the system scope's: a claim takes the next job of any tenant, and the
lease operations (extend, held, complete, release, fail, reap) address a job by id, fenced by its
lease owner, for the worker, which serves every tenant. ``counts``/``get`` and the unscoped
forms of ``pending``/``retry_dead`` are operator views across tenants. ``complete`` (and
``extend``/``fail`` when given a transaction) runs in the caller's shared transaction, so it
takes the bypass for its one statement only.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Row, and_, func, insert, or_, select, update

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM, Scope, scoped, system_scope
from ragd.adapters.sql.rows import RowLike, aware
from ragd.adapters.sql.schema import ingest_jobs
from ragd.domain.models import IngestJob, JobState, TenantId, utcnow
from ragd.errors import LeaseLost
from ragd.ports.store import Transaction


def _job(row: Row[Any]) -> IngestJob:
    m = row._mapping
    return IngestJob(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        document_id=m["document_id"],
        state=JobState(m["state"]),
        attempts=m["attempts"],
        last_error=m["last_error"],
        lease_owner=m["lease_owner"],
        lease_expires_at=aware(m["lease_expires_at"]) if m["lease_expires_at"] else None,
        run_after=aware(m["run_after"]),
        created_at=aware(m["created_at"]),
    )


class SqlQueue:
    """Queue port on the Store's ``ingest_jobs`` table."""

    def __init__(self, db: Database, *, max_attempts: int = 3) -> None:
        self.db = db
        self.max_attempts = max_attempts

    def enqueue(self, tx: Transaction, tenant: TenantId, document_id: str) -> IngestJob:
        now = utcnow()
        # One live job per document: an older queued/running job is superseded.
        self.cancel_for_document(tx, tenant, document_id)
        values = {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant,
            "document_id": document_id,
            "state": JobState.QUEUED.value,
            "attempts": 0,
            "last_error": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "run_after": now,
            "created_at": now,
            "updated_at": now,
        }
        scoped(tx, tenant).execute(insert(ingest_jobs).values(**values))
        return _job(RowLike(values))  # type: ignore[arg-type]

    def claim(
        self,
        worker_id: str,
        *,
        limit: int,
        lease_seconds: float,
        exclude_tenants: Collection[TenantId] = (),
    ) -> list[IngestJob]:
        now = utcnow()
        job = ingest_jobs.alias("job")
        claimable = self._claimable(ingest_jobs, now, exclude_tenants)
        # Fair across tenants: each tenant's waiting jobs are numbered oldest first (its
        # ``turn``), and a tenant's turn counts after the jobs it already has running, so a
        # claim takes every waiting tenant's next job before anyone's second one, and a
        # tenant that is being served waits behind one that is not. Oldest first breaks ties.
        waiting = (
            select(
                ingest_jobs.c.id,
                ingest_jobs.c.tenant_id,
                func.row_number()
                .over(
                    partition_by=ingest_jobs.c.tenant_id,
                    order_by=(ingest_jobs.c.run_after, ingest_jobs.c.created_at),
                )
                .label("turn"),
            )
            .where(claimable)
            .cte("waiting")
        )
        served = (
            select(ingest_jobs.c.tenant_id, func.count().label("running"))
            .where(
                ingest_jobs.c.state == JobState.RUNNING.value,
                ingest_jobs.c.lease_expires_at >= now,
            )
            .group_by(ingest_jobs.c.tenant_id)
            .cte("served")
        )
        # The pick is a MATERIALIZED CTE, run exactly once. As a plain ``IN (subquery)`` it
        # is up to the planner, and under row-level security Postgres may run it once per
        # row as a SubPlan: every run skips the rows this very UPDATE has already changed
        # and locks the next ones, so one claim took every queued job, not ``limit``.
        picked = (
            select(job.c.id)
            .select_from(
                job.join(waiting, waiting.c.id == job.c.id).outerjoin(
                    served, served.c.tenant_id == waiting.c.tenant_id
                )
            )
            # Checked again on the locked row itself: Postgres re-evaluates this condition
            # on the newest version of a row another claim changed meanwhile (READ
            # COMMITTED), which it cannot do for ``waiting``'s older snapshot of it.
            .where(self._claimable(job, now, exclude_tenants))
            .order_by(
                waiting.c.turn + func.coalesce(served.c.running, 0),
                job.c.run_after,
                job.c.created_at,
            )
            .limit(limit)
            .with_for_update(skip_locked=True, of=job)
            .cte("picked")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        stmt = (
            update(ingest_jobs)
            .where(ingest_jobs.c.id.in_(select(picked.c.id)))
            .values(
                state=JobState.RUNNING.value,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=ingest_jobs.c.attempts + 1,
                updated_at=now,
            )
            .returning(*ingest_jobs.c)
        )
        with self.db.write(SYSTEM) as conn:  # the next job of any tenant
            jobs = [_job(r) for r in conn.execute(stmt)]
        return sorted(jobs, key=lambda j: (j.run_after, j.created_at))

    def _claimable(
        self, jobs: FromClause, now: datetime, exclude_tenants: Collection[TenantId]
    ) -> ColumnElement[bool]:
        c = jobs.c
        cond = or_(
            and_(c.state == JobState.QUEUED.value, c.run_after <= now),
            and_(
                c.state == JobState.RUNNING.value,
                c.lease_expires_at < now,
                c.attempts < self.max_attempts,
            ),
        )
        if exclude_tenants:
            cond = and_(cond, c.tenant_id.not_in(list(exclude_tenants)))
        return cond

    def held(self, worker_id: str, job_ids: Collection[str]) -> set[str]:
        if not job_ids:
            return set()
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(ingest_jobs.c.id).where(
                    ingest_jobs.c.id.in_(list(job_ids)),
                    ingest_jobs.c.lease_owner == worker_id,
                    ingest_jobs.c.state == JobState.RUNNING.value,
                )
            ).all(),
            SYSTEM,  # the worker's own leases, of any tenant
        )
        return {r[0] for r in rows}

    def reap_exhausted(self) -> list[IngestJob]:
        """Dead-letter jobs whose lease ran out after their last allowed attempt.

        A document that kills its worker every time (a parser crash, out of memory) must
        end as failed with a reason, not be claimed forever.
        """
        now = utcnow()
        stmt = (
            update(ingest_jobs)
            .where(
                ingest_jobs.c.state == JobState.RUNNING.value,
                ingest_jobs.c.lease_expires_at < now,
                ingest_jobs.c.attempts >= self.max_attempts,
            )
            .values(
                state=JobState.FAILED.value,
                lease_owner=None,
                last_error=func.coalesce(
                    ingest_jobs.c.last_error, "worker stopped during every attempt"
                ),
                updated_at=now,
            )
            .returning(*ingest_jobs.c)
        )
        with self.db.write(SYSTEM) as conn:  # any tenant's abandoned jobs
            return [_job(r) for r in conn.execute(stmt)]

    def extend(
        self, job_id: str, worker_id: str, *, lease_seconds: float, tx: Transaction | None = None
    ) -> None:
        now = utcnow()
        stmt = (
            update(ingest_jobs)
            .where(*_held(job_id, worker_id))
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        )
        if tx is not None:
            with system_scope(tx) as conn:  # by id + lease, in the caller's transaction
                res = conn.execute(stmt)
        else:
            with self.db.write(SYSTEM) as conn:
                res = conn.execute(stmt)
        if res.rowcount == 0:
            raise LeaseLost(f"job {job_id} is no longer leased to {worker_id}")

    def complete(self, tx: Transaction, job_id: str, worker_id: str) -> None:
        with system_scope(tx) as conn:  # the job's tenant is not an argument: by id + lease
            res = conn.execute(
                update(ingest_jobs)
                .where(*_held(job_id, worker_id))
                .values(
                    state=JobState.DONE.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                    updated_at=utcnow(),
                )
            )
        if res.rowcount == 0:
            raise LeaseLost(f"job {job_id} is no longer leased to {worker_id}")

    def release(self, job_id: str, worker_id: str) -> None:
        with self.db.write(SYSTEM) as conn:
            conn.execute(
                update(ingest_jobs)
                .where(*_held(job_id, worker_id))
                .values(
                    state=JobState.QUEUED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=func.max(ingest_jobs.c.attempts - 1, 0)
                    if self.db.is_sqlite
                    else func.greatest(ingest_jobs.c.attempts - 1, 0),
                    updated_at=utcnow(),
                )
            )

    def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_at: datetime | None,
        tx: Transaction | None = None,
    ) -> JobState:
        state = JobState.QUEUED if retry_at is not None else JobState.FAILED
        values: dict[str, Any] = {
            "state": state.value,
            "last_error": error[:4000],
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": utcnow(),
        }
        if retry_at is not None:
            values["run_after"] = retry_at
        stmt = (
            update(ingest_jobs)
            .where(ingest_jobs.c.id == job_id, ingest_jobs.c.lease_owner == worker_id)
            .values(**values)
        )
        if tx is not None:
            with system_scope(tx) as conn:
                res = conn.execute(stmt)
        else:
            with self.db.write(SYSTEM) as conn:
                res = conn.execute(stmt)
        if res.rowcount == 0:
            raise LeaseLost(f"job {job_id} is no longer leased to {worker_id}")
        return state

    def get(self, job_id: str) -> IngestJob | None:
        row = self.db.run_read(
            lambda conn: conn.execute(
                select(ingest_jobs).where(ingest_jobs.c.id == job_id)
            ).first(),
            SYSTEM,
        )
        return _job(row) if row else None

    def counts(self) -> dict[JobState, int]:
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(ingest_jobs.c.state, func.count()).group_by(ingest_jobs.c.state)
            ).all(),
            SYSTEM,
        )
        out = dict.fromkeys(JobState, 0)
        for state, n in rows:
            out[JobState(state)] = int(n)
        return out

    def lag_seconds(self) -> float:
        now = utcnow()
        oldest = self.db.run_read(
            lambda conn: conn.execute(
                select(func.min(ingest_jobs.c.run_after)).where(
                    ingest_jobs.c.state == JobState.QUEUED.value, ingest_jobs.c.run_after <= now
                )
            ).scalar(),
            SYSTEM,  # an operator view across tenants, like counts
        )
        return max(0.0, (now - aware(oldest)).total_seconds()) if oldest is not None else 0.0

    def pending(self, tenant: TenantId | None = None) -> int:
        q = (
            select(func.count())
            .select_from(ingest_jobs)
            .where(ingest_jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
        )
        if tenant is not None:
            q = q.where(ingest_jobs.c.tenant_id == tenant)
        scope: Scope = SYSTEM if tenant is None else tenant
        return int(self.db.run_read(lambda conn: conn.execute(q).scalar_one(), scope))

    def retry_dead(self, tenant: TenantId | None = None) -> int:
        cond = [ingest_jobs.c.state == JobState.FAILED.value]
        if tenant is not None:
            cond.append(ingest_jobs.c.tenant_id == tenant)
        with self.db.write(SYSTEM if tenant is None else tenant) as conn:
            res = conn.execute(
                update(ingest_jobs)
                .where(*cond)
                .values(
                    state=JobState.QUEUED.value, attempts=0, run_after=utcnow(), updated_at=utcnow()
                )
            )
        return int(res.rowcount)

    def cancel_for_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        *,
        reason: str = "superseded",
    ) -> int:
        res = scoped(tx, tenant).execute(
            update(ingest_jobs)
            .where(
                ingest_jobs.c.tenant_id == tenant,
                ingest_jobs.c.document_id == document_id,
                ingest_jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            )
            .values(
                state=JobState.DONE.value,
                lease_owner=None,
                lease_expires_at=None,
                last_error=reason,
                updated_at=utcnow(),
            )
        )
        return int(res.rowcount)


def _held(job_id: str, worker_id: str) -> tuple[ColumnElement[bool], ...]:
    """The job is running under this worker's lease: the fence of every lease operation."""
    return (
        ingest_jobs.c.id == job_id,
        ingest_jobs.c.lease_owner == worker_id,
        ingest_jobs.c.state == JobState.RUNNING.value,
    )
