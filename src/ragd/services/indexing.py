"""Turning queued documents into searchable chunks: parse → chunk → embed → index.

A worker claims a batch of jobs and embeds all their chunks together (the model is far
faster per passage in batches), then commits each document in its own transaction that
also completes its job. That commit is fenced by the job's lease: a worker presumed dead
whose job was taken over cannot commit a second copy, so every document ends indexed
exactly once however often workers crash.

An index outside the Store (Qdrant) takes part through the same ``Index.upsert_document``
call: it writes an outbox row in that transaction instead of its own rows. The worker then
applies the outbox (``sync_index``, between batches and on every idle poll), so the
document becomes searchable moments after its commit; until then it is left out of every
search, and a failing sync never holds up ingestion (the rows wait in the Store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from ragd.domain.chunking import chunk_sections
from ragd.domain.models import (
    Chunk,
    ChunkDraft,
    Document,
    DocumentStatus,
    IndexEntry,
    IngestJob,
    JobState,
    TenantId,
    utcnow,
)
from ragd.errors import DocumentRejected, LeaseLost, NotFound, RagdError
from ragd.observability import metrics
from ragd.ports import Embedder, Index, Parsing, Queue, Store
from ragd.ports.index import IndexMaintenance
from ragd.ports.index_sync import IndexSync
from ragd.services.ingest import title_from_source

log = logging.getLogger("ragd.indexing")

HEADING_RESERVE = 8
MAINTAIN_EVERY_S = 60.0
"""How often a worker asks the index for upkeep (one cheap query when there is none)."""

SYNC_BACKOFF_MIN_S = 1.0
SYNC_BACKOFF_MAX_S = 30.0
MIN_CHUNK_TOKENS = 64


@dataclass(frozen=True)
class ChunkingPolicy:
    max_tokens: int
    overlap: int


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_seconds: float
    lease_seconds: float

    def retry_delay(self, attempts: int) -> float:
        return self.backoff_seconds * (2.0 ** max(attempts - 1, 0))


@dataclass
class _Prepared:
    job: IngestJob
    document: Document
    drafts: list[ChunkDraft]


@dataclass
class BatchResult:
    indexed: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    chunks: int = 0


def embedding_text(document: Document, draft: ChunkDraft | Chunk) -> str:
    """What the model sees for a chunk: the chunk with its title and headings in front.

    A passage cut out of a long document often does not name its subject; the title and
    heading path give the embedding that context. The stored chunk text (and thus every
    citation) stays exactly the document's own words.
    """
    parts = [document.title] if document.title else []
    parts += [h for h in draft.heading_path if h.casefold() not in {p.casefold() for p in parts}]
    context = " > ".join(parts)
    return f"{context}\n{draft.text}" if context else draft.text


class IndexingService:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        index: Index,
        embedder: Embedder,
        parsing: Parsing,
        *,
        chunking: ChunkingPolicy,
        retry: RetryPolicy,
        embed_batch_size: int = 32,
        index_sync: IndexSync | None = None,
        sync_budget_seconds: float = 5.0,
        maintain_every_s: float = MAINTAIN_EVERY_S,
    ) -> None:
        self.store = store
        self.queue = queue
        self.index = index
        self.embedder = embedder
        self.parsing = parsing
        self.chunking = chunking
        self.retry = retry
        self.embed_batch_size = embed_batch_size
        self.index_sync = index_sync
        self.sync_budget_seconds = sync_budget_seconds
        self._sync_retry_at = 0.0
        self._sync_backoff = SYNC_BACKOFF_MIN_S
        self._maintain_at = 0.0
        self.maintain_every_s = maintain_every_s

    def maintain_index(self) -> str | None:
        """The index's background upkeep (``IndexMaintenance``), at most once every
        ``maintain_every_s`` (``RAGD_INDEX_MAINTAIN_SECONDS``) per worker; failures are
        logged, never raised."""
        if not isinstance(self.index, IndexMaintenance) or time.monotonic() < self._maintain_at:
            return None
        self._maintain_at = time.monotonic() + self.maintain_every_s
        try:
            return self.index.maintain()
        except Exception as exc:  # upkeep is best effort: ingestion must go on regardless
            log.warning("index maintenance failed, retrying later: %s", exc)
            return None

    def sync_index(self) -> int:
        """Apply the external index's outbox for up to ``sync_budget_seconds``; returns the
        rows applied (0 without an external index). A failure is logged and retried with
        backoff on later calls, never raised: ingestion goes on, the rows stay pending."""
        if self.index_sync is None or time.monotonic() < self._sync_retry_at:
            return 0
        try:
            applied = self.index_sync.drain(max_seconds=self.sync_budget_seconds)
        except RagdError as exc:
            self._sync_retry_at = time.monotonic() + self._sync_backoff
            log.warning("index sync failed, retrying in %.0fs: %s", self._sync_backoff, exc)
            self._sync_backoff = min(self._sync_backoff * 2, SYNC_BACKOFF_MAX_S)
            return 0
        self._sync_backoff = SYNC_BACKOFF_MIN_S
        return applied

    def process(
        self,
        jobs: Sequence[IngestJob],
        worker_id: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> BatchResult:
        result = BatchResult()
        prepared: list[_Prepared] = []
        self._mark([(j.tenant_id, j.document_id) for j in jobs], DocumentStatus.PARSING)
        for job in jobs:
            p = self._prepare(job, worker_id, result)
            if p is not None:
                prepared.append(p)
        if not prepared:
            return result
        self._mark([(p.job.tenant_id, p.document.id) for p in prepared], DocumentStatus.EMBEDDING)
        try:
            vectors = self._embed(prepared, worker_id, should_stop)
        except _Stopped:
            for p in prepared:
                self.queue.release(p.job.id, worker_id)
            result.skipped += len(prepared)
            return result
        except Exception as exc:
            for p in prepared:
                self._fail(p.job, p.document, worker_id, exc, result)
            return result
        offset = 0
        for p in prepared:
            n = len(p.drafts)
            self._commit(p, vectors[offset : offset + n], worker_id, result)
            offset += n
        return result

    # -- stages ----------------------------------------------------------------
    def _prepare(self, job: IngestJob, worker_id: str, result: BatchResult) -> _Prepared | None:
        try:
            doc = self.store.get_document(job.tenant_id, job.document_id)
        except NotFound:
            self._finish_orphan(job, worker_id)
            result.skipped += 1
            return None
        try:
            data = self.store.get_blob(job.tenant_id, doc.id)
            parsed = self.parsing.parse(data, doc.media_type, source=doc.source)
            budget = self._chunk_budget(doc.title)
            drafts = chunk_sections(
                parsed.sections,
                self.embedder.tokenizer,
                max_tokens=budget,
                overlap=min(self.chunking.overlap, budget // 4),
            )
            if not drafts:
                raise DocumentRejected("no text could be extracted")
            if parsed.title and doc.title == title_from_source(doc.source):
                # The title was only guessed from the file name; the document knows better.
                doc = replace(doc, title=parsed.title.strip()[:500])
        except Exception as exc:
            self._fail(job, doc, worker_id, exc, result)
            return None
        return _Prepared(job, doc, drafts)

    def _chunk_budget(self, title: str) -> int:
        """Tokens a chunk may have so that title, headings and chunk fit the model.

        The model reads at most ``max_tokens`` including [CLS]/[SEP]; the title is put in
        front of every chunk (``embedding_text``), and a few tokens are kept for headings.
        Anything beyond that would be silently truncated, i.e. never embedded.
        """
        room = self.embedder.max_tokens - 2 - self.embedder.tokenizer.count(title) - HEADING_RESERVE
        return min(self.chunking.max_tokens, max(MIN_CHUNK_TOKENS, room))

    def _embed(
        self, prepared: list[_Prepared], worker_id: str, should_stop: Callable[[], bool]
    ) -> np.ndarray:
        texts = [embedding_text(p.document, d) for p in prepared for d in p.drafts]
        out = np.zeros((len(texts), self.embedder.spec.dimension), np.float32)
        # Model calls go shortest-first across the whole batch, in the model's own tokens, so
        # each call pads its texts to similar lengths: padding is pure wasted compute on a
        # CPU, and character length is a poor proxy for tokens in scientific text.
        count = self.embedder.tokenizer.count
        lengths = [count(t) for t in texts]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        lease_renewed = time.monotonic()
        for start in range(0, len(order), self.embed_batch_size):
            if should_stop():
                raise _Stopped
            idx = order[start : start + self.embed_batch_size]
            out[idx] = self.embedder.embed_documents([texts[i] for i in idx])
            if time.monotonic() - lease_renewed > self.retry.lease_seconds / 3:
                for p in prepared:
                    with suppress(LeaseLost):  # detected again, and handled, at commit
                        self.queue.extend(
                            p.job.id, worker_id, lease_seconds=self.retry.lease_seconds
                        )
                lease_renewed = time.monotonic()
        metrics.EMBEDDING_TOKENS.labels(self.embedder.spec.model, "document").inc(
            sum(d.token_count for p in prepared for d in p.drafts)
        )
        return out

    def _commit(
        self, p: _Prepared, vectors: np.ndarray, worker_id: str, result: BatchResult
    ) -> None:
        doc, tenant = p.document, p.job.tenant_id
        chunks = [
            Chunk(
                id=f"{doc.id}:{doc.version}:{d.ordinal}",
                document_id=doc.id,
                tenant_id=tenant,
                ordinal=d.ordinal,
                text=d.text,
                char_start=d.char_start,
                char_end=d.char_end,
                token_count=d.token_count,
                page=d.page,
                heading_path=d.heading_path,
            )
            for d in p.drafts
        ]
        entries = [
            IndexEntry(
                chunk_id=c.id,
                document_id=doc.id,
                source=doc.source,
                title=doc.title,
                text=c.text,
                vector=vectors[i],
                metadata=doc.metadata,
            )
            for i, c in enumerate(chunks)
        ]
        try:
            with self.store.transaction() as tx:
                self.queue.complete(tx, p.job.id, worker_id)  # fencing first: LeaseLost aborts all
                self.store.replace_chunks(tx, tenant, doc.id, chunks)
                self.index.upsert_document(tx, tenant, doc.id, entries)
                self.store.set_status(
                    tx,
                    tenant,
                    doc.id,
                    DocumentStatus.INDEXED,
                    chunk_count=len(chunks),
                    title=doc.title,
                )
                self.store.delete_blob(tx, tenant, doc.id)
        except LeaseLost:
            log.warning("job %s was taken over by another worker; discarding this copy", p.job.id)
            result.skipped += 1
            return
        except Exception as exc:
            self._fail(p.job, doc, worker_id, exc, result)
            return
        result.indexed += 1
        result.chunks += len(chunks)

    # -- failure handling ---------------------------------------------------------
    def _fail(
        self, job: IngestJob, doc: Document, worker_id: str, exc: BaseException, result: BatchResult
    ) -> None:
        permanent = isinstance(exc, DocumentRejected) or (
            isinstance(exc, RagdError) and not exc.retryable and not isinstance(exc, LeaseLost)
        )
        message = str(exc) if isinstance(exc, RagdError) else f"{type(exc).__name__}: {exc}"
        retry_at = None
        if not permanent and job.attempts < self.retry.max_attempts:
            retry_at = utcnow() + timedelta(seconds=self.retry.retry_delay(job.attempts))
        try:
            state = self.queue.fail(job.id, worker_id, message, retry_at=retry_at)
        except LeaseLost:
            result.skipped += 1
            return
        if state == JobState.FAILED:
            if not permanent:
                message = f"{message} (after {job.attempts} attempts)"
            self.store.set_status(None, job.tenant_id, doc.id, DocumentStatus.FAILED, error=message)
            result.failed += 1
            log.warning("document %s (%s) failed: %s", doc.id, doc.source, message)
        else:
            self.store.set_status(None, job.tenant_id, doc.id, DocumentStatus.QUEUED, error=message)
            result.retried += 1
            log.info("document %s will be retried at %s: %s", doc.id, retry_at, message)

    def _finish_orphan(self, job: IngestJob, worker_id: str) -> None:
        try:
            with self.store.transaction() as tx:
                self.queue.complete(tx, job.id, worker_id)
        except LeaseLost:
            pass

    def _mark(self, docs: list[tuple[TenantId, str]], status: DocumentStatus) -> None:
        """One transaction for a whole batch's status change, not one per document."""
        with self.store.transaction() as tx:
            for tenant, document_id in docs:
                self.store.set_status(tx, tenant, document_id, status)

    def reap(self) -> int:
        """Fail the documents of jobs that exhausted their attempts by crashing workers."""
        reaped = self.queue.reap_exhausted()
        for job in reaped:
            self.store.set_status(
                None,
                job.tenant_id,
                job.document_id,
                DocumentStatus.FAILED,
                error=job.last_error or "worker stopped during every attempt",
            )
        return len(reaped)


class _Stopped(Exception):
    """The worker was asked to stop mid-batch; its jobs are released untouched."""
