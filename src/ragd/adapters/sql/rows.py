"""Rows to domain objects for the SQL Store: documents, chunks, and joined rows.

Kept apart from the statements (``store.py``) because every reader of the Store's tables
maps rows the same way, including the queue's (``queue.py``), and because rows written
before a validation rule existed must still read back as something renderable.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from ragd.adapters.sql.schema import chunks
from ragd.domain.metadata import shown_metadata, shown_title
from ragd.domain.models import Chunk, Document, DocumentStatus, TenantId

log = logging.getLogger("ragd.store")


def aware(ts: datetime) -> datetime:
    # SQLite hands timestamps back naive; they were written in UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def document_of(row: Row[Any]) -> Document:
    m = row._mapping
    metadata, title = _readable(m["id"], m["metadata"], m["title"])
    return Document(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        source=m["source"],
        title=title,
        media_type=m["media_type"],
        content_hash=m["content_hash"],
        size_bytes=m["size_bytes"],
        metadata=metadata,
        status=DocumentStatus(m["status"]),
        error=m["error"],
        version=m["version"],
        chunk_count=m["chunk_count"],
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
        collection_id=m.get("collection_id") or "default",
        readers=tuple(m.get("readers") or ()),
    )


def _readable(document_id: str, metadata: Any, title: str) -> tuple[dict[str, Any], str]:
    """A row's metadata and title as every reader may use them. Uploads are checked before
    they are stored; a row stored before those checks (NaN, nesting deeper than encoders
    recurse) would otherwise fail every listing, search and answer that reads it."""
    shown, problem = shown_metadata({} if metadata is None else metadata)
    shown_as, title_problem = shown_title(title)
    for what, why in (("metadata read as {}", problem), ("title shortened", title_problem)):
        if why:
            log.warning("document %s: stored %s: %s", document_id, what, why)
    return shown, shown_as


def chunk_of(row: Row[Any]) -> Chunk:
    m = row._mapping
    return Chunk(
        id=m["id"],
        document_id=m["document_id"],
        tenant_id=TenantId(m["tenant_id"]),
        ordinal=m["ordinal"],
        text=m["text"],
        char_start=m["char_start"],
        char_end=m["char_end"],
        token_count=m["token_count"],
        page=m["page"],
        heading_path=tuple(m["heading_path"] or ()),
        metadata=m["metadata"] or {},
    )


CHUNK_COLUMNS = [
    chunks.c[n]
    for n in (
        "id",
        "document_id",
        "tenant_id",
        "ordinal",
        "text",
        "page",
        "char_start",
        "char_end",
        "heading_path",
        "token_count",
        "metadata",
    )
]


def doc_of(mapping: Any) -> Document:
    """The document half of a chunk-join-document row (columns prefixed ``d_``)."""
    return document_of(RowLike({k[2:]: mapping[k] for k in mapping if k.startswith("d_")}))  # type: ignore[arg-type]


class RowLike:
    """Lets a plain dict go through the same row mapper as a result row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values
