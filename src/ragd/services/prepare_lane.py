"""The large-document lane: big documents are parsed and chunked beside the worker loop.

Parsing and chunking a document happen in one piece before its first chunk is embedded:
seconds per 10 MB of plain text, up to ``RAGD_PARSE_TIMEOUT_SECONDS`` for a hostile file.
Done in the worker loop, a 45 MB paragraph held every document claimed with it or after
it for that long (a 45-byte note uploaded right behind it waited 11 s on an idle machine,
49 s on a loaded one: ``tests/security/test_hostile_server.py``). So a worker prepares a
document of more than ``LARGE_DOCUMENT_BYTES`` on a thread of its own, one at a time,
while its loop goes on claiming, preparing the small ones and embedding; the prepared
document joins the embedding slices (``services.scheduling``) when it is ready.

The lane's jobs stay the worker's: their leases are renewed with the others', and one
deleted or cancelled meanwhile is dropped when its preparation ends (the status marks and
the commit are fenced by the lease anyway). A stopping worker releases them untouched.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragd.domain.models import IngestJob, TenantId

if TYPE_CHECKING:
    from ragd.services.scheduling import ActiveJob, BatchResult

log = logging.getLogger("ragd.indexing")

LARGE_DOCUMENT_BYTES = 1024 * 1024
"""Documents above this size are parsed and chunked in the lane (about half a second of
chunking per MB of text on one core); smaller ones in the worker loop, in turn."""
IDLE_EXIT_S = 30.0
"""How long the lane's thread waits for another large document before it ends."""


@dataclass
class Prepared:
    """What the lane hands back for one job: its document ready to embed, or None (failed
    or skipped, as counted in ``result``)."""

    job: IngestJob
    active: ActiveJob | None
    result: BatchResult | None
    """None when preparing raised (a bug): the job is left to its lease."""


class PrepareLane:
    """One thread preparing large documents in arrival order (``prepare`` is the worker's
    ``IndexingService.prepare``), handing them back through ``ready``."""

    def __init__(
        self, prepare: Callable[[IngestJob], tuple[ActiveJob | None, BatchResult]]
    ) -> None:
        self._prepare = prepare
        self._todo: queue.Queue[IngestJob] = queue.Queue()
        self._lock = threading.Lock()
        self._done: queue.Queue[Prepared] = queue.Queue()
        self.jobs: dict[str, IngestJob] = {}
        """Jobs handed to the lane and not taken back yet, by id (changed by the worker's
        thread only)."""
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    @property
    def tenants(self) -> set[TenantId]:
        return {j.tenant_id for j in self.jobs.values()}

    def submit(self, job: IngestJob) -> None:
        with self._lock:
            self.jobs[job.id] = job
            self._todo.put(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ragd-prepare-lane", daemon=True
                )
                self._thread.start()

    def ready(self, wait: float = 0.0) -> list[Prepared]:
        """The documents prepared since the last call; waits up to ``wait`` seconds for
        the first when there is none yet."""
        out: list[Prepared] = []
        try:
            out.append(self._done.get(timeout=wait) if wait > 0 else self._done.get_nowait())
            while True:
                out.append(self._done.get_nowait())
        except queue.Empty:
            pass
        # Only the jobs still ours: one forgotten while it was prepared is discarded.
        return [p for p in out if self.jobs.pop(p.job.id, None) is not None]

    def forget(self) -> list[IngestJob]:
        """Take every job back (the worker releases them); a preparation in progress
        finishes into the void."""
        jobs = list(self.jobs.values())
        self.jobs.clear()
        while True:
            try:
                self._todo.get_nowait()
            except queue.Empty:
                break
        self.ready()
        return jobs

    def _run(self) -> None:
        """Prepares jobs until none came for ``IDLE_EXIT_S`` (a worker that holds no large
        document keeps no thread)."""
        while True:
            try:
                job = self._todo.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._todo.empty():
                        self._thread = None
                        return
                continue
            if job.id not in self.jobs:  # forgotten while it waited
                continue
            try:
                active, result = self._prepare(job)
            except Exception:  # prepare fails documents itself; anything else is a bug
                # The job keeps its lease until it expires, then it is retried.
                log.exception("preparing job %s failed", job.id)
                active, result = None, None
            self._done.put(Prepared(job, active, result))
