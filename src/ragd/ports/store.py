"""Store port: the system of record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ragd.domain.access import AccessFilter
from ragd.domain.models import Chunk, Document, DocumentStatus, NewDocument, TenantId


class Transaction(Protocol):
    """Opaque handle of one Store transaction.

    Index adapters that live in the same database (SQLite, Postgres) write their rows
    through it, so chunks and their index entries commit or roll back together; remote
    indexes (Qdrant) get an outbox row written through it instead.
    """


class Store(Protocol):
    """Tenants, documents, their source bytes and chunks.

    Every method is scoped to a tenant and never returns another tenant's rows. Raises
    ``NotFound`` for a missing document (also when it belongs to another tenant: no
    existence leak), ``BackendUnavailable`` when the database cannot be reached.
    """

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction; commits on normal exit, rolls back on exception."""
        ...

    def ensure_tenant(self, tenant: TenantId) -> None: ...

    def tenants(self) -> list[TenantId]: ...

    def create_document(self, tx: Transaction, tenant: TenantId, new: NewDocument) -> Document: ...

    def update_document_source(
        self, tx: Transaction, tenant: TenantId, document_id: str, new: NewDocument
    ) -> Document:
        """Point an existing document at new content (bumps version, status queued)."""
        ...

    def get_document(self, tenant: TenantId, document_id: str) -> Document: ...

    def find_document(
        self, tenant: TenantId, *, source: str | None = None, content_hash: str | None = None
    ) -> Document | None: ...

    def find_documents(
        self, tenant: TenantId, *, sources: Sequence[str] = (), content_hashes: Sequence[str] = ()
    ) -> list[Document]:
        """Documents whose source or content hash is among these (oldest first)."""
        ...

    def list_documents(
        self,
        tenant: TenantId,
        *,
        status: DocumentStatus | None = None,
        name_contains: str | None = None,
        limit: int = 50,
        offset: int = 0,
        visible: AccessFilter | None = None,
    ) -> list[Document]:
        """Newest first (creation time, then id); ``name_contains`` matches the source or
        the title, literally (no wildcards); ``visible`` keeps the documents a caller may
        read (their collection, their allow-list), in the query."""
        ...

    def count_documents(
        self,
        tenant: TenantId,
        *,
        status: DocumentStatus | None = None,
        name_contains: str | None = None,
        visible: AccessFilter | None = None,
    ) -> int:
        """How many documents ``list_documents`` with the same conditions would page over."""
        ...

    def set_status(
        self,
        tx: Transaction | None,
        tenant: TenantId,
        document_id: str,
        status: DocumentStatus,
        *,
        error: str | None = None,
        chunk_count: int | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """``title`` replaces a title that was only guessed from the file name;
        ``metadata`` replaces the document's metadata (the uploader's merged with what
        the content says about itself)."""
        ...

    def delete_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> bool: ...

    def put_blob(
        self, tx: Transaction, tenant: TenantId, document_id: str, data: bytes
    ) -> None: ...

    def get_blob(self, tenant: TenantId, document_id: str) -> bytes: ...

    def delete_blob(self, tx: Transaction, tenant: TenantId, document_id: str) -> None: ...

    def replace_chunks(
        self, tx: Transaction, tenant: TenantId, document_id: str, chunks: Sequence[Chunk]
    ) -> None:
        """Delete the document's chunks and insert these, in the caller's transaction."""
        ...

    def list_chunks(self, tenant: TenantId, document_id: str) -> list[Chunk]: ...

    def get_chunks(
        self, tenant: TenantId, chunk_ids: Sequence[str], visible: AccessFilter | None = None
    ) -> dict[str, tuple[Chunk, Document]]:
        """Chunks by id with their document; ids of other tenants are simply absent, and
        with ``visible`` so are those of documents the caller may not read (on Postgres
        the row-level-security access policy decides, in the read's transaction)."""
        ...

    def iter_indexed_chunks(self, batch_size: int = 256) -> Iterator[list[tuple[Chunk, Document]]]:
        """Every chunk of every indexed document, all tenants (for ``ragd reindex``)."""
        ...

    def count_chunks(self, tenant: TenantId) -> int: ...

    def stored_bytes(self, tenant: TenantId) -> int:
        """Sum of the tenant's documents' sizes (storage quota)."""
        ...

    def document_owner(self, document_id: str) -> TenantId | None:
        """The one unscoped read: which tenant holds this document id, if any. Only the
        API's cross-tenant probe detection uses it, after a scoped read said 404."""
        ...

    def close(self) -> None: ...
