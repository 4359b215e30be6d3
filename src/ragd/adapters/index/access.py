"""The permission filter every Index applies inside its own query.

A chunk's collection and its document's allow-list travel with the chunk's metadata
payload, under two reserved keys, because every backend already stores that payload and
filters on it inside its search (SQLite ``index_chunks.metadata``, pgvector's JSONB column,
Qdrant's payload): the permission check becomes one more condition of the KNN/BM25 query,
so ``top_k`` fills with readable chunks and no unreadable chunk's score is ever computed
into a result. Entries written before collections existed carry neither key and read as
the ``default`` collection with no allow-list, which is what revision 0010 migrated their
documents to; nothing has to be reindexed.

The SQLite index also keeps both in columns of ``index_chunks`` (``collection_id``, and
``readers`` only for a document with an allow-list) under an index, so that its SQL
search decides a row's access without parsing its JSON payload: a JSON condition cost
+70 % on a 100k-chunk dense search (``bench/README.md``, "Permission filters").

The keys are never shown: hits are hydrated from the Store's documents, and uploads may
not use the ``_ragd`` prefix in their metadata (``domain.metadata``).
"""

from __future__ import annotations

import json
from typing import Any

from ragd.domain.access import DEFAULT_COLLECTION, AccessFilter
from ragd.domain.models import IndexEntry

COLLECTION_KEY = "_ragd_c"
READERS_KEY = "_ragd_r"
RESERVED_PREFIX = "_ragd"


def stored_metadata(entry: IndexEntry) -> dict[str, Any]:
    """The payload an Index stores for ``entry``: its metadata plus the access keys
    (any user key of the reserved prefix is dropped, so it cannot forge them)."""
    out = {k: v for k, v in entry.metadata.items() if not k.startswith(RESERVED_PREFIX)}
    out[COLLECTION_KEY] = entry.collection_id
    if entry.readers:
        out[READERS_KEY] = sorted(entry.readers)
    return out


def shown_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A stored payload without the access keys."""
    return {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}


def matches(metadata: dict[str, Any], flt: AccessFilter) -> bool:
    """Whether a stored payload passes ``flt`` (the in-memory index's check; the SQL and
    Qdrant conditions below must agree with it)."""
    collection = metadata.get(COLLECTION_KEY)
    if not isinstance(collection, str):
        collection = DEFAULT_COLLECTION
    if collection not in flt.collections:
        return False
    if flt.principals is None:
        return True
    readers = metadata.get(READERS_KEY)
    if not isinstance(readers, list) or not readers:
        return True
    return not set(flt.principals).isdisjoint(r for r in readers if isinstance(r, str))


def stored_readers(entry: IndexEntry) -> str | None:
    """The allow-list as the SQLite index's ``readers`` column holds it: a JSON array of
    the principals, or NULL for a document without one (most documents), so that most
    rows are decided by their collection alone."""
    if not entry.readers:
        return None
    return json.dumps(sorted(entry.readers), ensure_ascii=False)


SQLITE_BACKFILL = (
    "UPDATE index_chunks SET"
    f" collection_id = CASE WHEN json_type(metadata, '$.{COLLECTION_KEY}') = 'text'"
    f" THEN json_extract(metadata, '$.{COLLECTION_KEY}') ELSE '{DEFAULT_COLLECTION}' END,"
    f" readers = CASE WHEN json_type(metadata, '$.{READERS_KEY}') = 'array'"
    f" AND json_array_length(metadata, '$.{READERS_KEY}') > 0"
    f" THEN json_extract(metadata, '$.{READERS_KEY}') END"
)
"""Fills the SQLite index's ``collection_id`` and ``readers`` columns from the stored
payload, as ``matches`` reads it (no collection key: the default collection; an absent or
empty allow-list: none). Append a ``WHERE`` to limit it."""


def sqlite_condition(flt: AccessFilter) -> tuple[str, list[Any]]:
    """The condition on ``index_chunks c`` (its ``collection_id`` and ``readers``
    columns, which ``ix_index_chunks_tenant_access`` covers) and its parameters.

    No JSON is evaluated for a row without an allow-list; for one with, only its small
    ``readers`` array is (the payload is not parsed).
    """
    if not flt.collections:
        return "0", []
    marks = ", ".join("?" * len(flt.collections))
    sql = f"c.collection_id IN ({marks})"
    params: list[Any] = [*flt.collections]
    if flt.principals is not None:
        who = ", ".join("?" * len(flt.principals)) or "NULL"
        sql += (
            " AND (c.readers IS NULL OR EXISTS (SELECT 1 FROM"
            f" json_each(c.readers) r WHERE r.value IN ({who})))"
        )
        params.extend(flt.principals)
    return sql, params


def postgres_condition(flt: AccessFilter, params: dict[str, Any]) -> str:
    """The condition on ``index_chunks c`` (JSONB); its values go into ``params``."""
    params["acc_collections"] = list(flt.collections)
    params["acc_default"] = DEFAULT_COLLECTION
    sql = (
        f"coalesce(c.metadata ->> '{COLLECTION_KEY}', %(acc_default)s)"
        " = ANY(%(acc_collections)s::text[])"
    )
    if flt.principals is not None:
        params["acc_principals"] = list(flt.principals)
        sql += (
            f" AND (NOT (c.metadata ? '{READERS_KEY}')"
            f" OR (c.metadata -> '{READERS_KEY}') ?| %(acc_principals)s::text[])"
        )
    return sql
