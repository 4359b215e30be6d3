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

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ragd.adapters.index.checks import checked_entry_vectors
from ragd.adapters.index.sqlite import terms, versions
from ragd.adapters.index.sqlite.errors import translate_errors
from ragd.adapters.index.tokens import Fts5Tokenizer
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.errors import InvalidRequest
from ragd.ports.store import Transaction


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
    without relying on the caller to roll back a half-written document.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    vectors: list[bytes] = []
    texts: list[tuple[str, str]] = []
    checked = checked_entry_vectors(document_id, entries, spec)
    for entry, vec in zip(entries, checked, strict=True):
        vectors.append(vec.tobytes())
        rows.append(
            (
                entry.chunk_id,
                tenant,
                document_id,
                entry.source,
                json.dumps(entry.metadata, ensure_ascii=False, default=str),
            )
        )
        texts.append((entry.title or "", entry.text or ""))
    chunk_terms = tokenizer.chunks(texts)
    with translate_errors():
        removed = _delete(conn, tenant, document_id)
        if not rows:
            if removed:
                versions.bump(conn, tenant, removed)
            return
        try:
            conn.exec_driver_sql(
                "INSERT INTO index_chunks"
                " (chunk_id, tenant_id, document_id, source, metadata)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except IntegrityError as exc:
            raise InvalidRequest(
                "a chunk id of this document is already indexed under another document"
                " or tenant; chunk ids must be unique"
            ) from exc
        rowid_of: dict[str, int] = dict(
            conn.exec_driver_sql(
                "SELECT chunk_id, rowid FROM index_chunks WHERE tenant_id = ? AND document_id = ?",
                (tenant, document_id),
            ).all()
        )
        rowids = [rowid_of[r[0]] for r in rows]
        conn.exec_driver_sql(
            "INSERT INTO vec_chunks (rowid, tenant_id, embedding) VALUES (?, ?, ?)",
            [(rid, tenant, vec) for rid, vec in zip(rowids, vectors, strict=True)],
        )
        conn.exec_driver_sql(
            "INSERT INTO fts_chunks (rowid, title, text) VALUES (?, ?, ?)",
            [(rid, t, x) for rid, (t, x) in zip(rowids, texts, strict=True)],
        )
        terms.write(conn, rowids, chunk_terms, vocabulary)
        versions.bump(conn, tenant, [*removed, *rowids])


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
