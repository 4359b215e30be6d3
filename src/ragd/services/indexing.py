"""Turning queued documents into searchable chunks: parse → chunk → embed → index.

A worker holds a set of claimed jobs (its ``Workload``) and embeds their chunks one model
call at a time, fairly across tenants and shortest document first (``services.scheduling``),
committing each document in its own transaction that also completes its job as soon as
its last chunk is embedded. Between model calls it takes newly claimed jobs, renews its
leases and drops the jobs whose documents were deleted or cancelled, so one tenant's huge
document neither holds another tenant's small one nor outlives its own deletion.

The commit is fenced by the job's lease: a worker presumed dead whose job was taken over
(or whose document was deleted or cancelled) cannot write it, so every document ends
indexed exactly once however often workers crash, and a deleted one never comes back.

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
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np

from ragd.domain.chunking import chunk_sections
from ragd.domain.metadata import check_metadata
from ragd.domain.models import (
    Attachment,
    Chunk,
    ChunkDraft,
    Document,
    DocumentStatus,
    IndexEntry,
    IngestJob,
    JobState,
    ParsedDocument,
    TenantId,
    utcnow,
)
from ragd.domain.pricing import PriceTable
from ragd.domain.webhooks import EventType, NewEvent
from ragd.errors import DocumentRejected, InvalidRequest, LeaseLost, NotFound, RagdError
from ragd.ports import Embedder, Index, Parsing, Queue, Store
from ragd.ports.graph import GraphStore
from ragd.ports.images import ImageStore
from ragd.ports.index import IndexMaintenance
from ragd.ports.index_sync import IndexSync
from ragd.ports.vision import Vision
from ragd.services.attachments import AttachmentQueue, Carried
from ragd.services.graph_build import GraphBuildService
from ragd.services.images import captioned
from ragd.services.ingest import title_from_source
from ragd.services.scheduling import ActiveJob, BatchResult, Workload
from ragd.services.webhooks import EventEmitter, document_event

log = logging.getLogger("ragd.indexing")

HEADING_RESERVE = 8
NO_TEXT = "no text could be extracted"
NO_IMAGE_TEXT = (
    "no text could be extracted: OCR found no text in the image and no vision model "
    "captioned it (set RAGD_VISION_PROVIDER and RAGD_VISION_MODEL to caption pictures)"
)
MAINTAIN_EVERY_S = 60.0
"""How often a worker asks the index for upkeep (one cheap query when there is none)."""

SYNC_BACKOFF_MIN_S = 1.0
SYNC_BACKOFF_MAX_S = 30.0
MIN_CHUNK_TOKENS = 64
CHECK_EVERY_S = 1.0
"""How often a busy worker reads whether its jobs were deleted or cancelled meanwhile."""
STEP_SECONDS = 1.0
"""How long a worker embeds before it looks at the queue again (``Worker.run_once``)."""


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


def merged_metadata(uploaded: dict[str, Any], parsed: ParsedDocument) -> dict[str, Any]:
    """The uploader's metadata over what the content says about itself (title, author,
    dates, language...): a key the uploader set is never overwritten. Content metadata
    that would break the metadata rules (``domain.metadata``) is left out whole."""
    content = dict(parsed.metadata)
    if parsed.title:
        content.setdefault("title", parsed.title.strip()[:500])
    merged = {**content, **uploaded}
    if merged == uploaded:
        return uploaded
    try:
        return check_metadata(merged)
    except InvalidRequest:
        log.info("content metadata left out: it breaks the metadata rules")
        return uploaded


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
        document_timeout_s: float | None = None,
        check_every_s: float = CHECK_EVERY_S,
        events: EventEmitter | None = None,
        max_document_bytes: int | None = None,
        graph: GraphStore | None = None,
        graph_build: GraphBuildService | None = None,
        chunk_tokens_for: Callable[[TenantId, str], int | None] | None = None,
        vision: Vision | None = None,
        prices: PriceTable | None = None,
        images: ImageStore | None = None,
    ) -> None:
        self.events = events or EventEmitter(None)
        """Webhook events, written in the transaction of the change they report."""
        self.store = store
        self.chunk_tokens_for = chunk_tokens_for
        """A collection's own chunk size (its settings), None for the default."""
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
        self.document_timeout_s = document_timeout_s
        """Model time one document may take (``RAGD_INGEST_DOCUMENT_TIMEOUT_SECONDS``)."""
        self.check_every_s = check_every_s
        self.attachments = AttachmentQueue(
            store, queue, index, parsing, max_bytes=max_document_bytes
        )
        self.graph = graph
        """Loses a replaced document's graph contribution in the commit that replaces it."""
        self.graph_build = graph_build
        """The graph stage (``RAGD_GRAPH_ENABLED``), run by the worker when it is idle."""
        self.vision = vision
        """Captions image sections before they are chunked (``RAGD_VISION_*``)."""
        self.prices = prices
        """What captions cost (``RAGD_LLM_PRICES``)."""
        self.images = images
        """Where image chunks' previews go (thumbnails), written with the chunks."""

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

    def build_graph(self, *, nudge: bool = False) -> int:
        """The graph stage for about a step (``GraphBuildService.step``); returns the
        documents built (0 without a graph stage). Never raises for a failing LLM."""
        if self.graph_build is None:
            return 0
        return self.graph_build.step(max_seconds=STEP_SECONDS, nudge=nudge).documents

    def workload(self, worker_id: str) -> Workload:
        """The documents one worker holds, embedded slice by slice (see ``Workload``)."""
        return Workload(self, worker_id)

    def process(
        self,
        jobs: Sequence[IngestJob],
        worker_id: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> BatchResult:
        """Index these claimed jobs to the end (or until ``should_stop``), taking no others."""
        work = self.workload(worker_id)
        result = work.add(jobs)
        while work.busy:
            result.add(work.step(should_stop))
        return result

    # -- stages ----------------------------------------------------------------
    def document_size(self, job: IngestJob) -> int:
        """The job's document's size in bytes (0 when it is gone: ``prepare`` finishes
        such a job at once)."""
        try:
            return self.store.get_document(job.tenant_id, job.document_id).size_bytes
        except NotFound:
            return 0

    def prepare(self, job: IngestJob, worker_id: str, result: BatchResult) -> ActiveJob | None:
        try:
            doc = self.store.get_document(job.tenant_id, job.document_id)
        except NotFound:
            self._finish_orphan(job, worker_id)
            result.skipped += 1
            return None
        try:
            data = self.store.get_blob(job.tenant_id, doc.id)
            parsed = self.parsing.parse(data, doc.media_type, source=doc.source)
            if self.vision is not None and parsed.images:
                parsed = captioned(parsed, self.vision, job.tenant_id, self.prices)
            budget = self._chunk_budget(doc.title, self._collection_chunk_tokens(doc))
            drafts = chunk_sections(
                parsed.sections,
                self.embedder.tokenizer,
                max_tokens=budget,
                overlap=min(self.chunking.overlap, budget // 4),
            )
            if not drafts:
                raise DocumentRejected(NO_IMAGE_TEXT if parsed.images else NO_TEXT)
            if parsed.title and doc.title == title_from_source(doc.source):
                # The title was only guessed from the file name; the document knows better.
                doc = replace(doc, title=parsed.title.strip()[:500])
            carried = self._carried(doc, parsed.attachments)
            doc = replace(doc, metadata=merged_metadata(doc.metadata, parsed))
            texts = [embedding_text(doc, d) for d in drafts]
            # Counted in the model's own tokens: character length is a poor proxy for
            # tokens in scientific text, and slices go shortest first to save padding.
            tokens = [self.embedder.tokenizer.count(t) for t in texts]
        except Exception as exc:
            self.fail(job, doc, worker_id, exc, result)
            return None
        vectors = np.zeros((len(texts), self.embedder.spec.dimension), np.float32)
        # Only the images some chunk was cut from: an image with neither OCR text nor a
        # caption made no chunk, and nothing would cite (or show) it.
        used = {str(d.metadata["image"]) for d in drafts if "image" in d.metadata}
        images = [i for i in parsed.images if i.key in used] if self.images else []
        return ActiveJob(job, doc, drafts, texts, tokens, vectors, carried=carried, images=images)

    def _carried(self, doc: Document, attachments: list[Attachment]) -> Carried | None:
        """The attachments to queue with ``doc``'s commit, and those queued by an earlier
        version of it (a new version may have dropped some)."""
        if not attachments and doc.version <= 1:
            return None
        known = self.attachments.known(doc.tenant_id, doc)
        if not attachments and not known:
            return None
        return Carried(attachments, known, dict(doc.metadata))

    def _collection_chunk_tokens(self, doc: Document) -> int | None:
        if self.chunk_tokens_for is None:
            return None
        try:
            return self.chunk_tokens_for(doc.tenant_id, doc.collection_id)
        except NotFound:
            return None  # the collection went meanwhile: its documents go with it

    def _chunk_budget(self, title: str, max_tokens: int | None = None) -> int:
        """Tokens a chunk may have so that title, headings and chunk fit the model.

        The model reads at most ``max_tokens`` including [CLS]/[SEP]; the title is put in
        front of every chunk (``embedding_text``), and a few tokens are kept for headings.
        Anything beyond that would be silently truncated, i.e. never embedded.
        """
        room = self.embedder.max_tokens - 2 - self.embedder.tokenizer.count(title) - HEADING_RESERVE
        return min(max_tokens or self.chunking.max_tokens, max(MIN_CHUNK_TOKENS, room))

    def commit(self, p: ActiveJob, worker_id: str, result: BatchResult) -> None:
        doc, tenant, vectors = p.document, p.job.tenant_id, p.vectors
        # What the model read (a copy of every chunk's text) is done with: release it
        # before the write, so a huge document is not held twice while it is stored.
        p.texts, p.tokens = [], []
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
                metadata=d.metadata,
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
                collection_id=doc.collection_id,
                readers=doc.readers,
            )
            for i, c in enumerate(chunks)
        ]
        try:
            with self.store.transaction() as tx:
                self.queue.complete(tx, p.job.id, worker_id)  # fencing first: LeaseLost aborts all
                if self.graph is not None:  # the old version's entities and relations
                    self.graph.remove_document(tx, tenant, doc.id)
                self.store.replace_chunks(tx, tenant, doc.id, chunks)
                if self.images is not None:
                    self.images.replace_images(tx, tenant, doc.id, p.images)
                self.index.upsert_document(tx, tenant, doc.id, entries)
                self.store.set_status(
                    tx,
                    tenant,
                    doc.id,
                    DocumentStatus.INDEXED,
                    chunk_count=len(chunks),
                    title=doc.title,
                    metadata=doc.metadata,
                )
                self.store.delete_blob(tx, tenant, doc.id)
                self.events.emit(
                    tx,
                    tenant,
                    document_event(
                        EventType.DOCUMENT_INDEXED, doc, status="indexed", chunks=len(chunks)
                    ),
                )
                if p.carried is not None:
                    c = p.carried
                    self.attachments.write(tx, tenant, doc, c.inherited, c.attachments, c.known)
        except LeaseLost:
            log.warning("job %s was taken over by another worker; discarding this copy", p.job.id)
            result.skipped += 1
            return
        except Exception as exc:
            self.fail(p.job, doc, worker_id, exc, result)
            return
        result.indexed += 1
        result.chunks += len(chunks)

    # -- failure handling ---------------------------------------------------------
    def fail(
        self, job: IngestJob, doc: Document, worker_id: str, exc: BaseException, result: BatchResult
    ) -> None:
        permanent = isinstance(exc, DocumentRejected) or (
            isinstance(exc, RagdError) and not exc.retryable and not isinstance(exc, LeaseLost)
        )
        message = str(exc) if isinstance(exc, RagdError) else f"{type(exc).__name__}: {exc}"
        retry_at = None
        if not permanent and job.attempts < self.retry.max_attempts:
            retry_at = utcnow() + timedelta(seconds=self.retry.retry_delay(job.attempts))
        exhausted = f"{message} (after {job.attempts} attempts)" if not permanent else message
        try:
            # The job's outcome and the document's status in one transaction fenced by the
            # lease: when it was lost, a delete or cancel has already decided both.
            with self.store.transaction() as tx:
                state = self.queue.fail(job.id, worker_id, message, retry_at=retry_at, tx=tx)
                if state == JobState.FAILED:
                    message = exhausted
                status = (
                    DocumentStatus.FAILED if state == JobState.FAILED else DocumentStatus.QUEUED
                )
                self.store.set_status(tx, job.tenant_id, doc.id, status, error=message)
                if state == JobState.FAILED:
                    self.events.emit(tx, job.tenant_id, _failed(doc, message))
        except LeaseLost:
            result.skipped += 1
            return
        if state == JobState.FAILED:
            result.failed += 1
            log.warning("document %s (%s) failed: %s", doc.id, doc.source, message)
        else:
            result.retried += 1
            log.info("document %s will be retried at %s: %s", doc.id, retry_at, message)

    def _finish_orphan(self, job: IngestJob, worker_id: str) -> None:
        try:
            with self.store.transaction() as tx:
                self.queue.complete(tx, job.id, worker_id)
        except LeaseLost:
            pass

    def mark(self, jobs: Sequence[IngestJob], worker_id: str, status: DocumentStatus) -> set[str]:
        """One transaction for a whole batch's status change, not one per document, fenced
        by each job's lease (renewed on the way): a document deleted or cancelled meanwhile
        keeps the status its canceller gave it. Returns the ids of the jobs still held."""
        held: set[str] = set()
        with self.store.transaction() as tx:
            for job in jobs:
                try:
                    self.queue.extend(
                        job.id, worker_id, lease_seconds=self.retry.lease_seconds, tx=tx
                    )
                except LeaseLost:
                    continue
                self.store.set_status(tx, job.tenant_id, job.document_id, status)
                held.add(job.id)
        return held

    def reap(self) -> int:
        """Fail the documents of jobs that exhausted their attempts by crashing workers."""
        reaped = self.queue.reap_exhausted()
        for job in reaped:
            error = job.last_error or "worker stopped during every attempt"
            try:
                doc = self.store.get_document(job.tenant_id, job.document_id)
            except NotFound:
                continue  # deleted meanwhile: nothing to mark
            with self.store.transaction() as tx:
                self.store.set_status(
                    tx, job.tenant_id, job.document_id, DocumentStatus.FAILED, error=error
                )
                self.events.emit(tx, job.tenant_id, _failed(doc, error))
        return len(reaped)


def _failed(doc: Document, error: str) -> NewEvent:
    return document_event(EventType.DOCUMENT_FAILED, doc, status="failed", error=error)
