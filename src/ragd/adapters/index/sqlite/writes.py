"""Writes to the SQLite index, through the Store's own transaction.

``upsert_document`` and ``delete_document`` run on the connection of the Store transaction
that changes the chunks, so a document's chunks and its index entries commit or roll back
together and a replaced document is never searchable in a stale form. Every write also
stores its chunks' terms as FTS5 tokenized them (``terms.py``) and bumps the tenant's
version (``versions.py``), which is how other processes' in-memory indexes hear of it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ragd.adapters.index.access import stored_metadata, stored_readers
from ragd.adapters.index.checks import checked_entry_vectors
from ragd.adapters.index.sqlite import terms, versions
from ragd.adapters.index.sqlite.errors import translate_errors
from ragd.adapters.index.tokens import Fts5Tokenizer
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.errors import InvalidRequest
from ragd.ports.store import Transaction

WRITE_BATCH = 512
"""Entries written (and tokenized) at a time: a document's terms are never all in memory.

Tokenizing a whole document's chunks at once held every word of it as a Python string and
every chunk's term counts as a dict, ~20 bytes per byte of text (a 12 MB paragraph added
~270 MB during the write); a batch holds a bounded share of that, whatever the document.
"""


def upsert_document(
    conn: Connection,
    tenant: TenantId,
    document_id: str,
    entries: Sequence[IndexEntry],
    *,
    spec: EmbeddingSpec,
    tokenizer: Fts5Tokenizer,
    vocabulary: terms.WriterVocabulary,
) -> None:
    """Replace the document's entries inside the caller's transaction.

    Everything is validated before the first write so that a bad vector fails the call
    without relying on the caller to roll back a half-written document. The rows are then
    written ``WRITE_BATCH`` entries at a time, all in the caller's transaction, so the
    document still appears (and is replaced) at once.
    """
    checked = checked_entry_vectors(document_id, entries, spec)
    with translate_errors():
        removed = _delete(conn, tenant, document_id)
        added: list[int] = []
        for start in range(0, len(entries), WRITE_BATCH):
            added += _insert(
                conn,
                tenant,
                document_id,
                entries[start : start + WRITE_BATCH],
                checked[start : start + WRITE_BATCH],
                tokenizer=tokenizer,
                vocabulary=vocabulary,
            )
        if removed or added:
            versions.bump(conn, tenant, [*removed, *added])


def _insert(
    conn: Connection,
    tenant: TenantId,
    document_id: str,
    entries: Sequence[IndexEntry],
    vectors: Sequence[np.ndarray],
    *,
    tokenizer: Fts5Tokenizer,
    vocabulary: terms.WriterVocabulary,
) -> list[int]:
    """Insert one batch of entries into every index table; returns their rowids."""
    rows = [
        (
            entry.chunk_id,
            tenant,
            document_id,
            entry.source,
            json.dumps(stored_metadata(entry), ensure_ascii=False, default=str),
            entry.collection_id,
            stored_readers(entry),
        )
        for entry in entries
    ]
    try:
        conn.exec_driver_sql(
            "INSERT INTO index_chunks"
            " (chunk_id, tenant_id, document_id, source, metadata, collection_id, readers)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    except IntegrityError as exc:
        raise InvalidRequest(
            "a chunk id of this document is already indexed under another document"
            " or tenant; chunk ids must be unique"
        ) from exc
    rowid_of: dict[str, int] = dict(
        conn.exec_driver_sql(
            "SELECT c.chunk_id, c.rowid FROM json_each(?) j"
            " CROSS JOIN index_chunks c ON c.chunk_id = j.value",
            (json.dumps([r[0] for r in rows], ensure_ascii=False),),
        ).all()
    )
    rowids = [rowid_of[r[0]] for r in rows]
    conn.exec_driver_sql(
        "INSERT INTO vec_chunks (rowid, tenant_id, embedding) VALUES (?, ?, ?)",
        [(rid, tenant, vec.tobytes()) for rid, vec in zip(rowids, vectors, strict=True)],
    )
    texts = [(entry.title or "", entry.text or "") for entry in entries]
    conn.exec_driver_sql(
        "INSERT INTO fts_chunks (rowid, title, text) VALUES (?, ?, ?)",
        [(rid, t, x) for rid, (t, x) in zip(rowids, texts, strict=True)],
    )
    terms.write(conn, rowids, tokenizer.chunks(texts), vocabulary)
    return rowids


def delete_document(conn: Connection, tenant: TenantId, document_id: str) -> None:
    """Remove the document's entries inside the caller's transaction."""
    with translate_errors():
        removed = _delete(conn, tenant, document_id)
        if removed:
            versions.bump(conn, tenant, removed)


def _delete(conn: Connection, tenant: TenantId, document_id: str) -> list[int]:
    """Remove the document's rows from every index table; returns their rowids."""
    rowids = [
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT rowid FROM index_chunks WHERE tenant_id = ? AND document_id = ?",
            (tenant, document_id),
        ).all()
    ]
    if not rowids:
        return []
    # Point deletes by rowid: vec0 and FTS5 both resolve ``rowid = ?`` directly, while
    # an IN over a subquery could make either scan its whole table per document.
    params = [(rid,) for rid in rowids]
    conn.exec_driver_sql("DELETE FROM vec_chunks WHERE rowid = ?", params)
    conn.exec_driver_sql("DELETE FROM fts_chunks WHERE rowid = ?", params)
    terms.delete(conn, rowids)
    conn.exec_driver_sql(
        "DELETE FROM index_chunks WHERE tenant_id = ? AND document_id = ?",
        (tenant, document_id),
    )
    return rowids


def connection_of(tx: Transaction) -> Connection:
    """The SQLAlchemy Connection behind the Store's opaque transaction handle."""
    if not isinstance(tx, Connection):
        raise TypeError(
            f"SqliteIndex writes through the SQL Store's transaction (a SQLAlchemy "
            f"Connection), got {type(tx).__name__}"
        )
    return tx
