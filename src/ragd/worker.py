"""The ingestion worker loop: the same code runs in-process (embedded mode, ``ragd
ingest``) and as its own process (``ragd worker``, one Deployment on Kubernetes).

A worker holds up to ``RAGD_WORKER_BATCH_SIZE`` documents and embeds them a model call at
a time, fairly across tenants (``services.scheduling``). It looks at the queue again about
every second while it works: a tenant's first document is claimed then even when the
worker is full (``exclude_tenants``: up to twice the batch size), so one tenant's huge
document or backlog never stalls another tenant, and a document deleted or cancelled
meanwhile is dropped.

SIGTERM/SIGINT ask it to stop: the documents in hand are abandoned between model calls
and their jobs are released untouched (no attempt spent), so a rolling restart never
costs a retry and never loses a job.

A database outage (Postgres restarting, a failover) must not kill the process: the loop
backs off and tries again, and whatever batch was in flight comes back through its lease
(reaped and retried), so the worker recovers without a restart and no job is lost.

``WorkerPool`` runs several workers as threads of one process (``ragd worker
--concurrency N``): they share one embedding model in memory (ONNX Runtime sessions are
safe to call from several threads and release the GIL while they compute), so N workers
cost one model's RAM instead of N.

``build_worker``/``build_worker_pool`` make them from a process's ``Services``, paced by
the ingest section of its settings (``RAGD_WORKER_*``, ``RAGD_JOB_LEASE_SECONDS``).

With ``sources`` (the embedded worker and ``ragd worker``, unless
``RAGD_SOURCES_IN_WORKER=false``) a worker also runs synced sources that are due, on threads
of their own (``services.source_schedule``), so a long crawl never holds up ingestion, and
watches folder sources' folders (``services.source_watch``, unless
``RAGD_SOURCES_WATCH=false``) so a changed folder is synced seconds later.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from ragd.domain.models import IngestJob
from ragd.errors import BackendUnavailable
from ragd.ports import Queue
from ragd.services.indexing import STEP_SECONDS, IndexingService
from ragd.services.scheduling import BatchResult
from ragd.services.source_schedule import SourceScheduler
from ragd.services.webhooks import DeliveryLoop

MIN_DELIVERY_POLL_S = 0.25

if TYPE_CHECKING:
    from ragd.services.container import Services

log = logging.getLogger("ragd.worker")

OUTAGE_BACKOFF_MAX_S = 10.0
"""Longest wait between tries while the database is unreachable."""


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerStats:
    indexed: int = 0
    failed: int = 0
    retried: int = 0
    chunks: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    outages: int = 0

    def add(self, r: BatchResult) -> None:
        self.indexed += r.indexed
        self.failed += r.failed
        self.retried += r.retried
        self.chunks += r.chunks
        self.batches += 1

    def merge(self, other: WorkerStats) -> None:
        self.indexed += other.indexed
        self.failed += other.failed
        self.retried += other.retried
        self.chunks += other.chunks
        self.batches += other.batches
        self.outages += other.outages
        self.started = min(self.started, other.started)


class Worker:
    def __init__(
        self,
        queue: Queue,
        indexing: IndexingService,
        *,
        batch_size: int,
        lease_seconds: float,
        poll_seconds: float,
        worker_id: str | None = None,
        sources: SourceScheduler | None = None,
        deliveries: DeliveryLoop | None = None,
    ) -> None:
        self.sources = sources
        self.deliveries = deliveries
        """The webhook delivery loop, on a thread of its own while ``run`` runs."""
        self.queue = queue
        self.indexing = indexing
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or new_worker_id()
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._work = indexing.workload(self.worker_id)
        self._indexed_since_graph = False

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self) -> BatchResult | None:
        """Take newly due jobs and embed for about a second; None when there was nothing
        to do (no job in hand and none claimed)."""
        self.indexing.reap()
        self.indexing.sync_index()  # an external index's outbox (Qdrant); no-op otherwise
        self.indexing.maintain_index()  # pgvector: per-tenant graphs; no-op otherwise
        jobs = self._claim()
        if not jobs and not self._work.busy:
            # Nothing to embed: the graph stage's turn (a no-op unless RAGD_GRAPH_ENABLED).
            try:
                built = self.indexing.build_graph(nudge=self._indexed_since_graph)
            except Exception:  # the graph is an enrichment: its failure must not stop ingestion
                log.exception("graph build step failed; retried on the next idle turn")
                built = 0
            self._indexed_since_graph = False
            return BatchResult() if built else None
        result = self._work.add(jobs)
        # Embedding: back at the queue every STEP_SECONDS. Only waiting for the large-
        # document lane: back as often as an idle worker polls, for the small documents.
        step = STEP_SECONDS if self._work.active else self.poll_seconds
        result.add(self._work.step(self._stop.is_set, max_seconds=step))
        self._indexed_since_graph |= result.indexed > 0
        self.stats.add(result)
        return result

    def _claim(self) -> list[IngestJob]:
        held = len(self._work)
        if held < self.batch_size:
            return self.queue.claim(
                self.worker_id, limit=self.batch_size - held, lease_seconds=self.lease_seconds
            )
        if held < 2 * self.batch_size:  # full: still take a tenant it is not serving
            return self.queue.claim(
                self.worker_id,
                limit=1,
                lease_seconds=self.lease_seconds,
                exclude_tenants=self._work.tenants,
            )
        return []

    def run(
        self, *, until_idle: bool = False, on_batch: Callable[[BatchResult], None] | None = None
    ) -> WorkerStats:
        """Work until stopped (or, with ``until_idle``, until nothing is queued or running)."""
        log.info("worker %s started", self.worker_id)
        if self.deliveries is not None:
            self.deliveries.start()
        try:
            return self._run(until_idle=until_idle, on_batch=on_batch)
        finally:
            if self.deliveries is not None:
                self.deliveries.stop(timeout=self.lease_seconds)

    def _run(
        self, *, until_idle: bool, on_batch: Callable[[BatchResult], None] | None
    ) -> WorkerStats:
        source_thread = self._start_sources()
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                result = self.run_once()
                idle = result is None and until_idle and self.queue.pending() == 0
            except BackendUnavailable as exc:
                # The batch in flight (if any) keeps its lease until it expires; then it is
                # reaped and retried, so waiting here loses nothing.
                self.stats.outages += 1
                log.warning(
                    "worker %s: backend unavailable, retrying in %.1fs: %s",
                    self.worker_id,
                    backoff,
                    exc,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, OUTAGE_BACKOFF_MAX_S)
                continue
            backoff = self.poll_seconds
            if result is not None:
                if on_batch:
                    on_batch(result)
                continue
            if idle:
                break
            self._stop.wait(self.poll_seconds)
        self._work.release_all()  # stopped between two steps: give the jobs in hand back
        if source_thread is not None:
            self._stop.set()  # until_idle ends the loop without it: stop the source runs too
            source_thread.join()
        log.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats

    def _start_sources(self) -> threading.Thread | None:
        if self.sources is None:
            return None
        thread = threading.Thread(
            target=self.sources.run,
            args=(self._stop,),
            kwargs={"poll_seconds": max(self.poll_seconds, 1.0)},
            name="ragd-sources",
            daemon=True,
        )
        thread.start()
        return thread

    def install_signal_handlers(self) -> None:
        install_stop_signals(self.stop)


def install_stop_signals(stop: Callable[[], None]) -> None:
    """SIGTERM/SIGINT call ``stop`` (Kubernetes sends SIGTERM before it kills a pod)."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing up", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


class WorkerPool:
    """``concurrency`` workers as threads of this process, stopped together."""

    def __init__(self, make_worker: Callable[[], Worker], concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.workers = [make_worker() for _ in range(concurrency)]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()

    def install_signal_handlers(self) -> None:
        install_stop_signals(self.stop)

    def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Run every worker until stopped (or idle); returns their summed stats."""
        if len(self.workers) == 1:
            return self.workers[0].run(until_idle=until_idle)
        threads = [
            threading.Thread(
                target=w.run, kwargs={"until_idle": until_idle}, name=f"worker-{i}", daemon=True
            )
            for i, w in enumerate(self.workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            # join() with a timeout keeps the main thread responsive to signals.
            while t.is_alive():
                t.join(0.2)
        total = WorkerStats()
        for w in self.workers:
            total.merge(w.stats)
        return total


def build_worker(
    services: Services, worker_id: str | None = None, *, sources: bool = False
) -> Worker:
    """A worker on these services' queue and indexing (``RAGD_WORKER_BATCH_SIZE``,
    ``RAGD_WORKER_POLL_SECONDS``, ``RAGD_JOB_LEASE_SECONDS``); with ``sources`` it also
    runs due synced sources, unless ``RAGD_SOURCES_IN_WORKER=false``."""
    ingest = services.settings.ingest
    worker_id = worker_id or new_worker_id()
    scheduler = None
    if sources and services.settings.sources.in_worker and services.source_sync is not None:
        scheduler = SourceScheduler(
            services.source_sync,
            services.source_sync.sources,
            concurrency=services.settings.sources.concurrency,
            owner=worker_id,
            watch=services.source_watch,
        )
    deliveries = None
    if services.webhooks is not None and services.settings.webhooks.delivery_in_worker:
        # At most four idle reads a second, however eagerly the worker polls its queue.
        poll = max(ingest.worker_poll_seconds, MIN_DELIVERY_POLL_S)
        deliveries = DeliveryLoop(services.webhooks, poll_s=poll)
    return Worker(
        services.queue,
        services.indexing,
        batch_size=ingest.worker_batch_size,
        lease_seconds=ingest.job_lease_seconds,
        poll_seconds=ingest.worker_poll_seconds,
        worker_id=worker_id,
        sources=scheduler,
        deliveries=deliveries,
    )


def build_worker_pool(
    services: Services, concurrency: int | None = None, *, sources: bool = False
) -> WorkerPool:
    """``concurrency`` (default ``RAGD_WORKER_CONCURRENCY``) workers sharing these
    services, and so one embedding model; with ``sources``, the first also runs due synced
    sources (``RAGD_SOURCES_CONCURRENCY`` at a time for the whole process)."""
    made: list[Worker] = []

    def make() -> Worker:
        made.append(build_worker(services, sources=sources and not made))
        return made[-1]

    return WorkerPool(make, concurrency or services.settings.ingest.worker_concurrency)
