"""Submitting documents: dedupe by content hash, store the bytes, queue a job.

Submission is cheap and durable (one transaction: document row, its bytes, its job);
the expensive part (parse, chunk, embed, index) happens in ``services.indexing`` on a
worker, so a crash between the two never loses a document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ragd.domain.access import DEFAULT_COLLECTION
from ragd.domain.metadata import MAX_TITLE_CHARS
from ragd.domain.models import Document, DocumentStatus, NewDocument, SourceRecord, TenantId
from ragd.domain.text import headline
from ragd.domain.webhooks import EventType
from ragd.errors import DocumentRejected, DocumentTooLarge, InvalidRequest, RagdError
from ragd.ports import Index, Parsing, Queue, Store
from ragd.ports.graph import GraphStore
from ragd.services.webhooks import EventEmitter, document_event

Outcome = Literal["queued", "replaced", "unchanged", "failed"]

TEXT_MEDIA_TYPE = "text/plain"
RECORD_BATCH = 500


@dataclass(frozen=True)
class Submission:
    document: Document
    outcome: Outcome
    error: RagdError | None = None
    """Why a ``failed`` submission was rejected."""


@dataclass
class SubmitReport:
    submissions: list[Submission] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for s in self.submissions if s.outcome == outcome)

    @property
    def failures(self) -> list[Document]:
        return [s.document for s in self.submissions if s.outcome == "failed"]


class IngestService:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        index: Index,
        parsing: Parsing,
        *,
        max_document_bytes: int,
        events: EventEmitter | None = None,
        graph: GraphStore | None = None,
    ) -> None:
        self.events = events or EventEmitter(None)
        """Webhook events, written in the transaction of the change they report."""
        self.store = store
        self.queue = queue
        self.index = index
        self.parsing = parsing
        self.max_document_bytes = max_document_bytes
        self.graph = graph
        """Deleting or cancelling a document removes its graph contribution with it."""
        self._known_tenants: set[TenantId] = set()

    # -- submitting --------------------------------------------------------------
    def submit_bytes(
        self,
        tenant: TenantId,
        data: bytes,
        *,
        source: str,
        media_type: str | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        exact_source: bool = False,
        collection_id: str = DEFAULT_COLLECTION,
        readers: tuple[str, ...] = (),
    ) -> Submission:
        """Queue one document. Bad input becomes a failed document with its error, so a
        batch goes on and the person sees what happened to every file.

        ``exact_source``: only a document of this very source counts as already held (a
        synced source's items each keep a document of their own, even when two hold the
        same bytes), instead of any document with the same content."""
        if not source:
            raise InvalidRequest("a document needs a source name")
        if len(data) > self.max_document_bytes:
            return self._reject(
                tenant,
                source,
                DocumentTooLarge(_too_large(len(data), self.max_document_bytes)),
                len(data),
            )
        if not data:
            return self._reject(tenant, source, DocumentRejected("file is empty (0 bytes)"), 0)
        try:
            media_type = media_type or self.parsing.detect(source, data[:4096])
        except DocumentRejected as exc:
            return self._reject(tenant, source, exc, len(data))
        new = NewDocument(
            source=source,
            title=title or title_from_source(source),
            media_type=media_type,
            content_hash=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            metadata=dict(metadata or {}),
            collection_id=collection_id,
            readers=readers,
        )
        return self._submit_many(tenant, [(new, data)], exact_source=exact_source)[0]

    def submit_text(
        self,
        tenant: TenantId,
        text: str,
        *,
        title: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        collection_id: str = DEFAULT_COLLECTION,
        readers: tuple[str, ...] = (),
    ) -> Submission:
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        where = "" if collection_id == DEFAULT_COLLECTION else f"{collection_id}:"
        return self.submit_bytes(
            tenant,
            data,
            source=source or f"text:{where}{digest[:16]}",
            media_type=TEXT_MEDIA_TYPE,
            title=title,
            metadata=metadata,
            collection_id=collection_id,
            readers=readers,
        )

    def submit_path(self, tenant: TenantId, path: Path) -> list[Submission]:
        """One file: a document, or one document per record for JSONL/BEIR corpora."""
        source = str(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            return [
                self._reject(
                    tenant, source, DocumentRejected(f"cannot read file: {exc.strerror}"), 0
                )
            ]
        if size > self.max_document_bytes:
            # Checked before reading, so a huge file never has to fit in memory.
            return [
                self._reject(
                    tenant,
                    source,
                    DocumentTooLarge(_too_large(size, self.max_document_bytes)),
                    size,
                )
            ]
        try:
            data = path.read_bytes()
        except OSError as exc:
            return [
                self._reject(
                    tenant, source, DocumentRejected(f"cannot read file: {exc.strerror}"), size
                )
            ]
        if not data:
            return [self._reject(tenant, source, DocumentRejected("file is empty (0 bytes)"), 0)]
        try:
            media_type = self.parsing.detect(path.name, data[:4096])
            records = self.parsing.split_records(data, media_type, source=source)
        except DocumentRejected as exc:
            return [self._reject(tenant, source, exc, size)]
        if records is None:
            return [
                self.submit_bytes(tenant, data, source=source, media_type=media_type, title=None)
            ]
        return self._submit_records(tenant, path.name, records)

    def _submit_records(
        self, tenant: TenantId, collection: str, records: list[SourceRecord]
    ) -> list[Submission]:
        out: list[Submission] = []
        batch: list[tuple[NewDocument, bytes]] = []
        for rec in records:
            data = rec.text.encode("utf-8")
            source = f"{collection}#{rec.key}"
            if not data.strip():
                out.append(self._reject(tenant, source, DocumentRejected("record has no text"), 0))
                continue
            batch.append(
                (
                    NewDocument(
                        source=source,
                        title=rec.title or headline(rec.text) or rec.key,
                        media_type=TEXT_MEDIA_TYPE,
                        content_hash=hashlib.sha256(data).hexdigest(),
                        size_bytes=len(data),
                        metadata={**rec.metadata, "external_id": rec.key, "collection": collection},
                    ),
                    data,
                )
            )
            if len(batch) >= RECORD_BATCH:
                out.extend(self._submit_many(tenant, batch))
                batch = []
        if batch:
            out.extend(self._submit_many(tenant, batch))
        return out

    def submit_paths(
        self,
        tenant: TenantId,
        paths: Iterable[Path],
        on_submit: Callable[[Submission], None] | None = None,
    ) -> SubmitReport:
        report = SubmitReport()
        for path in paths:
            for sub in self.submit_path(tenant, path):
                report.submissions.append(sub)
                if on_submit:
                    on_submit(sub)
        return report

    def _submit_many(
        self,
        tenant: TenantId,
        items: list[tuple[NewDocument, bytes]],
        *,
        exact_source: bool = False,
    ) -> list[Submission]:
        """Submit documents with one lookup and one transaction for the whole batch.

        Per document: identical content already held (same source, or a source not yet
        known) is a no-op; a known source with new content is replaced; otherwise it is
        created. Each queued document gets its bytes and a job in the same transaction.
        """
        self._ensure_tenant(tenant)
        known = self.store.find_documents(
            tenant,
            sources=[n.source for n, _ in items],
            content_hashes=[] if exact_source else [n.content_hash for n, _ in items],
        )
        by_source = {d.source: d for d in known}
        # Identical content is the same document only inside one collection: an upload never
        # answers with (or replaces) a document of a collection it did not name.
        by_hash: dict[tuple[str, str], Document] = {}
        for d in known:
            if d.status != DocumentStatus.FAILED:
                by_hash.setdefault((d.collection_id, d.content_hash), d)
        results: list[Submission | None] = [None] * len(items)
        todo: list[int] = []
        first_in_batch: dict[tuple[str, str], int] = {}  # -> index of its first new copy
        copies: dict[int, int] = {}  # later identical copy -> that first index
        for i, (new, _) in enumerate(items):
            key = (new.collection_id, new.content_hash)
            same = by_hash.get(key)
            elsewhere = by_source.get(new.source)
            if elsewhere is not None and elsewhere.collection_id != new.collection_id:
                raise InvalidRequest(
                    f"a document with source {new.source!r} exists in another collection: "
                    "move it (PATCH /api/v1/documents/{id}) or upload under another source"
                )
            if same is not None and (same.source == new.source or new.source not in by_source):
                results[i] = Submission(same, "unchanged")
            elif key in first_in_batch and new.source not in by_source:
                copies[i] = first_in_batch[key]
            else:
                first_in_batch.setdefault(key, i)
                todo.append(i)
        if todo:
            with self.store.transaction() as tx:
                for i in todo:
                    new, data = items[i]
                    existing = by_source.get(new.source)
                    if existing is None:
                        doc = self.store.create_document(tx, tenant, new)
                        by_source[new.source] = doc
                        outcome: Outcome = "queued"
                    else:
                        doc = self.store.update_document_source(tx, tenant, existing.id, new)
                        outcome = "replaced"
                    by_hash.setdefault((new.collection_id, new.content_hash), doc)
                    self.store.put_blob(tx, tenant, doc.id, data)
                    self.queue.enqueue(tx, tenant, doc.id)
                    results[i] = Submission(doc, outcome)
        for i, first in copies.items():
            original = results[first]
            assert original is not None
            results[i] = Submission(original.document, "unchanged")
        return [r for r in results if r is not None]

    def _ensure_tenant(self, tenant: TenantId) -> None:
        if tenant not in self._known_tenants:
            self.store.ensure_tenant(tenant)
            self._known_tenants.add(tenant)

    def _reject(self, tenant: TenantId, source: str, error: RagdError, size: int) -> Submission:
        """Record a document that cannot be ingested, with its reason, and queue nothing."""
        self.store.ensure_tenant(tenant)
        new = NewDocument(
            source=source,
            title=title_from_source(source),
            media_type="application/octet-stream",
            content_hash=hashlib.sha256(f"rejected:{source}".encode()).hexdigest(),
            size_bytes=size,
        )
        existing = self.store.find_document(tenant, source=source)
        with self.store.transaction() as tx:
            if existing is None:
                doc = self.store.create_document(tx, tenant, new)
            else:
                doc = self.store.update_document_source(tx, tenant, existing.id, new)
                self.queue.cancel_for_document(tx, tenant, doc.id)
            self.store.set_status(tx, tenant, doc.id, DocumentStatus.FAILED, error=str(error))
            self.events.emit(
                tx,
                tenant,
                document_event(EventType.DOCUMENT_FAILED, doc, status="failed", error=str(error)),
            )
        return Submission(self.store.get_document(tenant, doc.id), "failed", error)

    # -- deleting, cancelling and retrying ---------------------------------------------------
    def delete(self, tenant: TenantId, document_id: str) -> None:
        """Remove a document, its chunks, its index entries and its jobs in one transaction.
        A worker indexing it notices within seconds and drops it (as for ``cancel``)."""
        doc = self.store.get_document(tenant, document_id)  # NotFound: unknown / other tenant
        with self.store.transaction() as tx:
            self.queue.cancel_for_document(tx, tenant, document_id)
            self.index.delete_document(tx, tenant, document_id)
            if self.graph is not None:
                self.graph.remove_document(tx, tenant, document_id)
            self.store.delete_document(tx, tenant, document_id)
            self.events.emit(
                tx, tenant, document_event(EventType.DOCUMENT_DELETED, doc, status="deleted")
            )

    def cancel(self, tenant: TenantId, document_id: str, *, by: str | None = None) -> Document:
        """Stop indexing a queued or in-flight document: it ends ``failed`` with the reason
        "cancelled by <by>", keeps its bytes (so ``retry`` can queue it again) and loses any
        chunks and index entries, all in one transaction. A worker holding its job notices
        within seconds (``Queue.held``) and drops it; its fenced commit cannot undo this."""
        doc = self.store.get_document(tenant, document_id)  # NotFound for unknown / other tenant
        if doc.status in (DocumentStatus.INDEXED, DocumentStatus.FAILED):
            raise DocumentNotCancellable(_not_cancellable(doc))
        reason = f"cancelled by {by}" if by else "cancelled"
        with self.store.transaction() as tx:
            if not self.queue.cancel_for_document(tx, tenant, document_id, reason=reason):
                # Its job ended between the read above and now: nothing left to stop.
                raise DocumentNotCancellable(_not_cancellable(doc, finished=True))
            self.index.delete_document(tx, tenant, document_id)
            if self.graph is not None:
                self.graph.remove_document(tx, tenant, document_id)
            self.store.replace_chunks(tx, tenant, document_id, [])
            self.store.set_status(
                tx, tenant, document_id, DocumentStatus.FAILED, error=reason, chunk_count=0
            )
            self.events.emit(
                tx,
                tenant,
                document_event(EventType.DOCUMENT_FAILED, doc, status="failed", error=reason),
            )
        return self.store.get_document(tenant, document_id)

    def retry_document(self, tenant: TenantId, document_id: str) -> Document:
        """Queue one failed document again (its stored bytes are parsed afresh)."""
        doc = self.store.get_document(tenant, document_id)
        if doc.status != DocumentStatus.FAILED:
            raise InvalidRequest(f"document {document_id} is {doc.status}, not failed")
        try:
            self.store.get_blob(tenant, document_id)
        except RagdError:
            raise InvalidRequest(
                f"document {document_id} was rejected before its bytes were stored; upload it again"
            ) from None
        with self.store.transaction() as tx:
            self.store.set_status(tx, tenant, document_id, DocumentStatus.QUEUED)
            self.queue.enqueue(tx, tenant, document_id)
        return self.store.get_document(tenant, document_id)

    def retry_failed(self, tenant: TenantId) -> int:
        """Queue every failed document whose bytes are still stored again."""
        n = 0
        # Listed in full before any is moved: requeueing while paging by offset through
        # the shrinking set of failed documents skipped every other page.
        for doc in list(_all_documents(self.store, tenant, DocumentStatus.FAILED)):
            try:
                self.store.get_blob(tenant, doc.id)
            except RagdError:
                continue  # rejected before its bytes were stored: nothing to retry
            with self.store.transaction() as tx:
                self.store.set_status(tx, tenant, doc.id, DocumentStatus.QUEUED)
                self.queue.enqueue(tx, tenant, doc.id)
            n += 1
        return n


class DocumentNotCancellable(InvalidRequest):
    """Only a queued or indexing document can be cancelled (HTTP 409)."""

    code = "not_cancellable"


def _not_cancellable(doc: Document, *, finished: bool = False) -> str:
    state = "has just finished indexing" if finished else f"is already {doc.status}"
    return f"document {doc.id} {state}: only a queued or indexing document can be cancelled"


LIST_PAGE = 500


def _all_documents(store: Store, tenant: TenantId, status: DocumentStatus) -> Iterator[Document]:
    offset = 0
    while True:
        page = store.list_documents(tenant, status=status, limit=LIST_PAGE, offset=offset)
        yield from page
        if len(page) < LIST_PAGE:
            return
        offset += LIST_PAGE


def title_from_source(source: str) -> str:
    name = source.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return (stem or source)[:MAX_TITLE_CHARS]


def _too_large(size: int, limit: int) -> str:
    mib = 1024 * 1024
    return (
        f"file is {size / mib:.1f} MiB, over the {limit / mib:.1f} MiB limit "
        "(RAGD_MAX_DOCUMENT_BYTES)"
    )
