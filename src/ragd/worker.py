"""The ingestion worker loop: the same code runs in-process (embedded mode, ``ragd
ingest``) and as its own process (``ragd worker``, one Deployment on Kubernetes).

SIGTERM/SIGINT ask it to stop: the current embedding batch is abandoned between model
calls and its jobs are released untouched (no attempt spent), so a rolling restart never
costs a retry and never loses a job.
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

from ragd.ports import Queue
from ragd.services.indexing import BatchResult, IndexingService

log = logging.getLogger("ragd.worker")


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

    def add(self, r: BatchResult) -> None:
        self.indexed += r.indexed
        self.failed += r.failed
        self.retried += r.retried
        self.chunks += r.chunks
        self.batches += 1


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
    ) -> None:
        self.queue = queue
        self.indexing = indexing
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.worker_id = worker_id or new_worker_id()
        self.stats = WorkerStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self) -> BatchResult | None:
        """Claim and process one batch; None when there was nothing to do."""
        self.indexing.reap()
        jobs = self.queue.claim(
            self.worker_id, limit=self.batch_size, lease_seconds=self.lease_seconds
        )
        if not jobs:
            return None
        result = self.indexing.process(jobs, self.worker_id, should_stop=self._stop.is_set)
        self.stats.add(result)
        return result

    def run(
        self, *, until_idle: bool = False, on_batch: Callable[[BatchResult], None] | None = None
    ) -> WorkerStats:
        """Work until stopped (or, with ``until_idle``, until nothing is queued or running)."""
        log.info("worker %s started", self.worker_id)
        while not self._stop.is_set():
            result = self.run_once()
            if result is not None:
                if on_batch:
                    on_batch(result)
                continue
            if until_idle and self.queue.pending() == 0:
                break
            self._stop.wait(self.poll_seconds)
        log.info("worker %s stopped: %s", self.worker_id, self.stats)
        return self.stats

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing up", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
