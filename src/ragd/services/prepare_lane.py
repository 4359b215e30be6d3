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


@dataclass
class Prepared:
    """What the lane hands back for one job: its document ready to embed, or None (failed
    or skipped, as counted in ``result``)."""

    job: IngestJob
    active: ActiveJob | None
    result: BatchResult


class PrepareLane:
    """One thread preparing large documents in arrival order (``prepare`` is the worker's
    ``IndexingService.prepare``), handing them back through ``ready``."""

    def __init__(
        self, prepare: Callable[[IngestJob], tuple[ActiveJob | None, BatchResult]]
    ) -> None:
        self._prepare = prepare
        self._todo: queue.Queue[IngestJob | None] = queue.Queue()
        self._done: queue.Queue[Prepared] = queue.Queue()
        self.jobs: dict[str, IngestJob] = {}
        """Jobs handed to the lane and not taken back yet, by id."""
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self.jobs)

    @property
    def tenants(self) -> set[TenantId]:
        return {j.tenant_id for j in self.jobs.values()}

    def submit(self, job: IngestJob) -> None:
        self.jobs[job.id] = job
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ragd-prepare-lane", daemon=True)
            self._thread.start()
        self._todo.put(job)

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
        for p in out:
            self.jobs.pop(p.job.id, None)
        return out

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

    def close(self) -> None:
        self._todo.put(None)

    def _run(self) -> None:
        while (job := self._todo.get()) is not None:
            if job.id not in self.jobs:  # forgotten while it waited
                continue
            try:
                active, result = self._prepare(job)
            except Exception:  # prepare fails documents itself; anything else is a bug
                # The job keeps its lease until it expires, then it is retried.
                log.exception("preparing job %s failed", job.id)
                self.jobs.pop(job.id, None)
                continue
            self._done.put(Prepared(job, active, result))
