"""Queue port: durable ingestion jobs with leases."""

from __future__ import annotations

from collections.abc import Collection
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

    def claim(
        self,
        worker_id: str,
        *,
        limit: int,
        lease_seconds: float,
        exclude_tenants: Collection[TenantId] = (),
    ) -> list[IngestJob]:
        """Lease up to ``limit`` due jobs, fairly across tenants.

        Every tenant with a job waiting gets its oldest one before any tenant gets a second,
        and a tenant that already has jobs running counts them as turns taken: one tenant's
        thousand documents (or one huge one) never keep another tenant's first document
        waiting for a later claim. Within a tenant, oldest first. ``exclude_tenants`` leaves
        out the tenants a worker is already serving (a full worker still takes a newcomer).
        """
        ...

    def extend(
        self, job_id: str, worker_id: str, *, lease_seconds: float, tx: Transaction | None = None
    ) -> None:
        """Renew the lease (fenced: ``LeaseLost`` when it is no longer this worker's); with
        ``tx``, inside the caller's transaction, so a status change can be fenced by it."""
        ...

    def held(self, worker_id: str, job_ids: Collection[str]) -> set[str]:
        """Which of ``job_ids`` are still running under this worker's lease: a cheap read a
        worker makes between embedding slices, so that a job whose document was deleted or
        cancelled (or whose lease another worker took over) is abandoned within seconds."""
        ...

    def complete(self, tx: Transaction, job_id: str, worker_id: str) -> None: ...

    def release(self, job_id: str, worker_id: str) -> None:
        """Give a claimed job back untouched (graceful shutdown); attempts are not spent."""
        ...

    def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_at: datetime | None,
        tx: Transaction | None = None,
    ) -> JobState:
        """Record a failed attempt; requeue at ``retry_at`` or dead-letter when None. Fenced
        by the lease like ``complete``; with ``tx``, inside the caller's transaction."""
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

    def cancel_for_document(
        self, tx: Transaction, tenant: TenantId, document_id: str, *, reason: str = "superseded"
    ) -> int:
        """End the document's live job (queued or running) with ``reason``; returns how many
        were ended. A worker holding it loses its lease: its next ``held``/``extend`` tells it
        to stop, and its fenced commit can no longer write the document back."""
        ...
