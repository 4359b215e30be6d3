"""Files carried inside a document (an e-mail's attachments) queued as documents of their own.

They are queued inside the transaction that commits the message, the same transaction
that completes its job under the worker's lease: the message and its attachments are
written together or not at all, so a crash, a retry or a second worker never loses or
doubles one (the exactly-once guarantee of uploads, by the same path: a document row,
its bytes and its job). Each attachment's source is the message's source plus
``#attachment/<n>/<name>``, so indexing a new version of the message replaces its
attachments in place (same bytes: left alone), and the attachments the new version no
longer has are deleted. An attachment that cannot be taken (too large, a type ragd does
not read) is recorded as a failed document with its reason, as an upload would be.

Each one links back: ``attachment_of`` (= ``parent_document_id``) is the message's id,
``parent_source`` its source; the uploader's own metadata of the message is inherited,
so a filter that finds the message finds its attachments too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ragd.domain.metadata import MAX_SOURCE_CHARS
from ragd.domain.models import Attachment, Document, DocumentStatus, NewDocument, TenantId
from ragd.errors import DocumentRejected, DocumentTooLarge
from ragd.ports import Index, Parsing, Queue, Store
from ragd.ports.store import Transaction

_PAGE = 500


@dataclass
class Carried:
    """What a parsed document carries to its commit: its attachments, the attachments
    stored for it before, and the uploader's metadata they inherit."""

    attachments: list[Attachment] = field(default_factory=list)
    known: list[Document] = field(default_factory=list)
    inherited: dict[str, Any] = field(default_factory=dict)


def attachment_prefix(parent: Document) -> str:
    return f"{parent.source}#attachment/"


def attachment_source(parent: Document, number: int, name: str) -> str:
    source = f"{attachment_prefix(parent)}{number}/{name}"
    return source[:MAX_SOURCE_CHARS]


class AttachmentQueue:
    """Writes a parent's attachments as documents within the parent's commit."""

    def __init__(
        self, store: Store, queue: Queue, index: Index, parsing: Parsing, *, max_bytes: int | None
    ) -> None:
        self.store = store
        self.queue = queue
        self.index = index
        self.parsing = parsing
        self.max_bytes = max_bytes

    def known(self, tenant: TenantId, parent: Document) -> list[Document]:
        """The parent's attachments stored so far (read before its commit)."""
        prefix = attachment_prefix(parent)
        found: list[Document] = []
        offset = 0
        while True:
            page = self.store.list_documents(
                tenant, name_contains=prefix, limit=_PAGE, offset=offset
            )
            found += [d for d in page if d.source.startswith(prefix)]
            if len(page) < _PAGE:
                return found
            offset += _PAGE

    def write(
        self,
        tx: Transaction,
        tenant: TenantId,
        parent: Document,
        inherited: dict[str, Any],
        attachments: Sequence[Attachment],
        known: list[Document],
    ) -> int:
        """Create, replace or keep each attachment and delete the ones gone; returns how
        many were queued."""
        by_source = {d.source: d for d in known}
        queued = 0
        wanted: set[str] = set()
        for number, attachment in enumerate(attachments, start=1):
            source = attachment_source(parent, number, attachment.name)
            wanted.add(source)
            queued += self._one(tx, tenant, parent, inherited, attachment, source, by_source)
        for source, stale in by_source.items():
            if source not in wanted:
                self.queue.cancel_for_document(tx, tenant, stale.id)
                self.index.delete_document(tx, tenant, stale.id)
                self.store.delete_document(tx, tenant, stale.id)
        return queued

    def _one(
        self,
        tx: Transaction,
        tenant: TenantId,
        parent: Document,
        inherited: dict[str, Any],
        attachment: Attachment,
        source: str,
        by_source: dict[str, Document],
    ) -> int:
        data = attachment.data
        metadata = {
            **inherited,
            "attachment_of": parent.id,
            "parent_document_id": parent.id,
            "parent_source": parent.source[:MAX_SOURCE_CHARS],
            "attachment_name": attachment.name,
        }
        error: DocumentRejected | None = None
        media_type = "application/octet-stream"
        if self.max_bytes is not None and len(data) > self.max_bytes:
            error = DocumentTooLarge(
                f"the attachment is {len(data):,} bytes, over the {self.max_bytes:,} byte "
                "limit (RAGD_MAX_DOCUMENT_BYTES)"
            )
        else:
            try:
                media_type = self.parsing.detect(attachment.name, data[:4096])
            except DocumentRejected as exc:
                error = exc
        new = NewDocument(
            source=source,
            title=_title(attachment.name),
            media_type=media_type,
            content_hash=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            metadata=metadata,
            # An attachment is readable by exactly those who may read its message.
            collection_id=parent.collection_id,
            readers=parent.readers,
        )
        existing = by_source.get(source)
        if (
            error is None
            and existing is not None
            and existing.content_hash == new.content_hash
            and existing.status != DocumentStatus.FAILED
        ):
            return 0  # the same bytes, already queued or indexed
        if existing is None:
            doc = self.store.create_document(tx, tenant, new)
        else:
            self.queue.cancel_for_document(tx, tenant, existing.id)
            doc = self.store.update_document_source(tx, tenant, existing.id, new)
        if error is not None:
            self.store.set_status(tx, tenant, doc.id, DocumentStatus.FAILED, error=str(error))
            return 0
        self.store.put_blob(tx, tenant, doc.id, data)
        self.queue.enqueue(tx, tenant, doc.id)
        return 1


def _title(name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return (stem if dot and stem and suffix else name)[:500]
