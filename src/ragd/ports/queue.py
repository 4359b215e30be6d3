"""Queue port: durable ingestion jobs with leases."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ragd.domain.models import IngestJob, JobState, TenantId
from ragd.ports.store import Transaction


class Queue(Protocol):
    """Jobs live in the Store so that a crash never loses one.

    A claim gives a worker a lease; a job whose lease runs out is claimed again by the
    next worker. ``complete`` is fenced: it raises ``LeaseLost`` when the caller's lease
    is no longer the current one, so a worker that was presumed dead cannot commit a
    second copy of a document.
    """

    def enqueue(self, tx: Transaction, tenant: TenantId, document_id: str) -> IngestJob: ...

    def claim(self, worker_id: str, *, limit: int, lease_seconds: float) -> list[IngestJob]: ...

    def extend(self, job_id: str, worker_id: str, *, lease_seconds: float) -> None: ...

    def complete(self, tx: Transaction, job_id: str, worker_id: str) -> None: ...

    def release(self, job_id: str, worker_id: str) -> None:
        """Give a claimed job back untouched (graceful shutdown); attempts are not spent."""
        ...

    def fail(
        self, job_id: str, worker_id: str, error: str, *, retry_at: datetime | None
    ) -> JobState:
        """Record a failed attempt; requeue at ``retry_at`` or dead-letter when None."""
        ...

    def reap_exhausted(self) -> list[IngestJob]:
        """Dead-letter expired jobs that used up their attempts; returns them."""
        ...

    def counts(self) -> dict[JobState, int]: ...

    def lag_seconds(self) -> float:
        """How long the oldest queued job that is due has waited (0.0 when none).

        Like ``counts``, an aggregate over all tenants that names none of them: it feeds
        the process-wide ``ragd_ingest_queue_lag_seconds`` gauge.
        """
        ...

    def pending(self, tenant: TenantId | None = None) -> int:
        """Jobs not yet done or dead (queued + running)."""
        ...

    def retry_dead(self, tenant: TenantId | None = None) -> int: ...

    def cancel_for_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None: ...
