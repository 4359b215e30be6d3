"""Which chunks a worker embeds next: fair across tenants, short documents first.

A worker keeps the documents it holds in memory as ``ActiveJob``s and embeds them one
model call (a *slice* of ``embed_batch_size`` chunks) at a time, committing each document
as soon as its last chunk is embedded. Between slices it can take new jobs, notice that a
document was deleted or cancelled, and renew its leases, so a huge document no longer
holds everything behind it until it is done.

The slices are filled chunk by chunk by ``FairSlicer``:

- across tenants, the tenant that has had the fewest tokens embedded so far goes next
  (fair sharing by work, not by documents: a tenant with one huge document and one with
  many small ones get the model in equal measure);
- within a tenant, the document with the fewest chunks left goes next, so small documents
  finish first and the mean wait is shortest.

A tenant that joins starts level with the least-served active tenant, never below it:
a tenant that was idle for an hour does not get the model to itself for an hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ragd.domain.models import (
    ChunkDraft,
    Document,
    DocumentImage,
    DocumentStatus,
    IngestJob,
    TenantId,
)
from ragd.errors import DocumentRejected, LeaseLost
from ragd.observability import metrics
from ragd.services.prepare_lane import LARGE_DOCUMENT_BYTES, PrepareLane

if TYPE_CHECKING:
    from ragd.services.attachments import Carried
    from ragd.services.indexing import IndexingService

log = logging.getLogger("ragd.indexing")

LANE_POLL_S = 0.05
"""Shortest wait for the lane when there is nothing to embed."""


@dataclass
class BatchResult:
    """What a worker did with its jobs in one step (counted into ``WorkerStats``)."""

    indexed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    chunks: int = 0

    def add(self, other: BatchResult) -> BatchResult:
        self.indexed += other.indexed
        self.failed += other.failed
        self.retried += other.retried
        self.skipped += other.skipped
        self.chunks += other.chunks
        return self


@dataclass
class ActiveJob:
    """A document being embedded: its chunks, their vectors so far, and its time spent."""

    job: IngestJob
    document: Document
    drafts: list[ChunkDraft]
    texts: list[str]
    """What the model reads for each draft (``embedding_text``)."""
    tokens: list[int]
    """Each text's length in the model's tokens."""
    vectors: npt.NDArray[np.float32]
    pending: list[int] = field(default_factory=list)
    """Indexes of the chunks not embedded yet, shortest first (padding is wasted compute)."""
    seconds: float = 0.0
    """Model time spent on this document (its share of every slice it was in)."""
    carried: Carried | None = None
    """Files the document carries (an e-mail's attachments), queued with its commit."""
    images: list[DocumentImage] = field(default_factory=list)
    """Previews of the images its image chunks were read from, stored with its commit."""

    def __post_init__(self) -> None:
        if not self.pending:
            self.pending = sorted(range(len(self.texts)), key=self.tokens.__getitem__)

    @property
    def tenant(self) -> TenantId:
        return self.job.tenant_id

    @property
    def done(self) -> bool:
        return not self.pending


@dataclass
class Slice:
    """One model call's worth of chunks, and the documents they belong to."""

    parts: list[tuple[ActiveJob, list[int]]]

    @property
    def texts(self) -> list[str]:
        return [a.texts[i] for a, idx in self.parts for i in idx]

    def __len__(self) -> int:
        return sum(len(idx) for _, idx in self.parts)


class FairSlicer:
    """Builds slices fairly from the active jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._served: dict[TenantId, float] = {}

    def next_slice(self, active: list[ActiveJob], size: int) -> Slice:
        tenants = {a.tenant for a in active if not a.done}
        for gone in set(self._served) - tenants:
            del self._served[gone]
        floor = min(self._served.values(), default=0.0)
        for t in tenants:
            self._served.setdefault(t, floor)
        taken: dict[int, list[int]] = {}  # id(active job) -> chunk indexes in this slice
        jobs = {id(a): a for a in active}
        left = {id(a): len(a.pending) for a in active}
        n = 0
        while n < size:
            ready = [a for a in active if left[id(a)] > 0]
            if not ready:
                break
            tenant = min({a.tenant for a in ready}, key=lambda t: (self._served[t], t))
            job = min((a for a in ready if a.tenant == tenant), key=lambda a: left[id(a)])
            chunk = job.pending[len(job.pending) - left[id(job)]]
            left[id(job)] -= 1
            taken.setdefault(id(job), []).append(chunk)
            self._served[tenant] += job.tokens[chunk]
            n += 1
        parts = [(jobs[k], idx) for k, idx in taken.items()]
        for a, idx in parts:
            del a.pending[: len(idx)]
        return Slice(parts)


class Workload:
    """The documents one worker holds, embedded one model call (a slice) at a time.

    ``add`` parses and chunks newly claimed jobs; each ``step`` embeds slices for about
    ``STEP_SECONDS``, chosen by ``FairSlicer`` (fair across tenants, fewest chunks left
    first within one), and commits every document whose last chunk is done. Between
    slices it renews its leases and, every ``check_every_s``, reads which of its jobs it
    still holds: a document that was deleted or cancelled, or whose job another worker took
    over, is dropped within seconds, and its fenced commit could not have written it back
    anyway. A document whose share of model time passes ``document_timeout_s`` fails for
    good with a sentence saying so.
    """

    def __init__(self, indexing: IndexingService, worker_id: str) -> None:
        self.indexing = indexing
        self.worker_id = worker_id
        self.active: list[ActiveJob] = []
        self.lane = PrepareLane(self._prepare)
        """Large documents being parsed and chunked beside the loop (``prepare_lane``)."""
        self._slicer = FairSlicer()
        self._checked = time.monotonic()
        self._renewed = time.monotonic()

    def __len__(self) -> int:
        return len(self.active) + len(self.lane)

    @property
    def busy(self) -> bool:
        """Documents in hand: being embedded, or being prepared in the lane."""
        return bool(self.active) or bool(len(self.lane))

    @property
    def tenants(self) -> set[TenantId]:
        return {a.tenant for a in self.active} | self.lane.tenants

    def add(self, jobs: Sequence[IngestJob]) -> BatchResult:
        """Parse and chunk newly claimed jobs and hold them for embedding: the small ones
        here and now, the large ones in the lane (collected by ``step``)."""
        ix, result = self.indexing, BatchResult()
        if not jobs:
            return result
        held = ix.mark(jobs, self.worker_id, DocumentStatus.PARSING)
        result.skipped += len(jobs) - len(held)
        prepared = []
        for job in jobs:
            if job.id not in held:
                continue
            if ix.document_size(job) > LARGE_DOCUMENT_BYTES:
                self.lane.submit(job)
            elif (p := ix.prepare(job, self.worker_id, result)) is not None:
                prepared.append(p)
        self._hold(prepared, result)
        return result

    def _prepare(self, job: IngestJob) -> tuple[ActiveJob | None, BatchResult]:
        """The lane's work: one large document prepared (on the lane's thread)."""
        result = BatchResult()
        return self.indexing.prepare(job, self.worker_id, result), result

    def _hold(self, prepared: list[ActiveJob], result: BatchResult) -> None:
        """Mark prepared documents ``embedding`` (fenced) and hold the ones still ours."""
        if prepared:
            ix = self.indexing
            embedding = ix.mark([p.job for p in prepared], self.worker_id, DocumentStatus.EMBEDDING)
            result.skipped += len(prepared) - len(embedding)
            self.active += [p for p in prepared if p.job.id in embedding]

    def _collect(self, result: BatchResult, wait: float = 0.0) -> None:
        """Take the documents the lane has prepared (waiting up to ``wait`` seconds)."""
        done = self.lane.ready(wait)
        for d in done:
            if d.result is not None:
                result.add(d.result)
        self._hold([d.active for d in done if d.active is not None], result)

    def step(
        self, should_stop: Callable[[], bool] = lambda: False, max_seconds: float = 0.0
    ) -> BatchResult:
        """Embed slices for up to ``max_seconds`` (at least one); commit what is done.
        With nothing to embed but documents in the lane, wait for them as long (at least
        ``LANE_POLL_S``)."""
        result = BatchResult()
        until = time.monotonic() + max_seconds
        self._collect(result)
        while self.busy:
            if should_stop():
                self.release_all(result)
                break
            self._keep_leases(result)
            if not self.active:
                wait = max(until - time.monotonic(), LANE_POLL_S)
                self._collect(result, wait=min(wait, self.indexing.check_every_s))
                if not self.active and time.monotonic() >= until:
                    break
                continue
            self._embed_slice(result)
            self._collect(result)
            if time.monotonic() >= until:
                break
        return result

    def release_all(self, result: BatchResult | None = None) -> None:
        """Give every held job back untouched (the worker is stopping)."""
        jobs = [a.job for a in self.active] + self.lane.forget()
        for job in jobs:
            with suppress(LeaseLost):
                self.indexing.queue.release(job.id, self.worker_id)
        if result is not None:
            result.skipped += len(jobs)
        self.active = []

    def _embed_slice(self, result: BatchResult) -> None:
        ix = self.indexing
        piece = self._slicer.next_slice(self.active, ix.embed_batch_size)
        started = time.monotonic()
        try:
            vectors = ix.embedder.embed_documents(piece.texts)
        except Exception as exc:
            for a, _ in piece.parts:
                self._drop(a)
                ix.fail(a.job, a.document, self.worker_id, exc, result)
            return
        spent = time.monotonic() - started
        offset = 0
        for a, idx in piece.parts:
            a.vectors[idx] = vectors[offset : offset + len(idx)]
            offset += len(idx)
            a.seconds += spent * len(idx) / len(piece)
        metrics.EMBEDDING_TOKENS.labels(ix.embedder.spec.model, "document").inc(
            sum(a.drafts[i].token_count for a, idx in piece.parts for i in idx)
        )
        for a, _ in piece.parts:
            if a.done:
                self._drop(a)
                ix.commit(a, self.worker_id, result)
            elif ix.document_timeout_s and a.seconds > ix.document_timeout_s:
                self._drop(a)
                ix.fail(a.job, a.document, self.worker_id, self._timed_out(a), result)

    def _timed_out(self, a: ActiveJob) -> DocumentRejected:
        total = len(a.texts)
        return DocumentRejected(
            f"indexing stopped after {self.indexing.document_timeout_s:g} seconds of embedding "
            f"(RAGD_INGEST_DOCUMENT_TIMEOUT_SECONDS), with {total - len(a.pending)} of "
            f"{total} chunks done: split the document into smaller files or raise the limit"
        )

    def _keep_leases(self, result: BatchResult) -> None:
        """Renew the leases when a third of their time has passed; every ``check_every_s``
        drop the jobs this worker no longer holds (deleted, cancelled, taken over)."""
        ix, now = self.indexing, time.monotonic()
        lost: set[str] = set()
        held = [a.job for a in self.active] + list(self.lane.jobs.values())
        if now - self._renewed > ix.retry.lease_seconds / 3:
            for job in held:
                try:
                    ix.queue.extend(job.id, self.worker_id, lease_seconds=ix.retry.lease_seconds)
                except LeaseLost:
                    lost.add(job.id)
            self._renewed = self._checked = now
        elif now - self._checked >= ix.check_every_s:
            ids = [job.id for job in held]
            lost = set(ids) - ix.queue.held(self.worker_id, ids)
            self._checked = now
        # A lane job lost meanwhile is dropped when it comes back: its marks are fenced.
        for a in [a for a in self.active if a.job.id in lost]:
            log.info(
                "document %s was deleted or cancelled, or its job taken over: abandoning it",
                a.document.id,
            )
            self._drop(a)
            result.skipped += 1

    def _drop(self, a: ActiveJob) -> None:
        self.active = [x for x in self.active if x is not a]
