"""The SQLite index's tables, created for the embedding spec they hold.

The tables are created with plain SQL rather than Alembic because the vector table's
dimension depends on the configured embedding model; ``index_meta`` records which model
built them so that a changed ``EMBEDDING_MODEL`` is refused instead of silently mixing
two embedding spaces.
"""

from __future__ import annotations

from sqlalchemy import Connection

from ragd.adapters.index.access import SQLITE_BACKFILL
from ragd.adapters.index.sqlite import terms, versions
from ragd.adapters.index.tokens import TOKENIZE
from ragd.domain.models import EmbeddingSpec

_META_MODEL = "embedding_model"
_META_DIMENSION = "embedding_dimension"
_META_SCHEMA = "schema_version"
_META_TERMS = "terms_complete"
_SCHEMA_VERSION = "3"

TABLES = (
    "fts_chunks",
    "vec_chunks",
    "index_chunks",
    *terms.TABLES,
    *versions.TABLES,
    "index_meta",
)


def create(conn: Connection, spec: EmbeddingSpec) -> None:
    """Create whatever is missing of the tables for ``spec`` (every statement idempotent)."""
    dim = int(spec.dimension)
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS index_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS index_chunks ("
        " rowid INTEGER PRIMARY KEY,"
        " chunk_id TEXT UNIQUE NOT NULL,"
        " tenant_id TEXT NOT NULL,"
        " document_id TEXT NOT NULL,"
        " source TEXT NOT NULL,"
        " metadata TEXT NOT NULL,"
        " collection_id TEXT,"
        " readers TEXT)"
    )
    _add_access_columns(conn)
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_document"
        " ON index_chunks (tenant_id, document_id)"
    )
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_source"
        " ON index_chunks (tenant_id, source)"
    )
    # Covers the permission filter's restriction of a tenant's rows (access.sqlite_condition).
    conn.exec_driver_sql(
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_access"
        " ON index_chunks (tenant_id, collection_id, readers)"
    )
    # A process of the previous version inserting into an upgraded file names neither
    # column: fill them from the payload it wrote (new writes set them, so it never fires).
    conn.exec_driver_sql(
        "CREATE TRIGGER IF NOT EXISTS tr_index_chunks_access AFTER INSERT ON index_chunks"
        f" WHEN NEW.collection_id IS NULL BEGIN {SQLITE_BACKFILL} WHERE rowid = NEW.rowid; END"
    )
    # The tenant partition key keeps a tenant's KNN scan to its own vector chunks.
    # No vec0 metadata columns: filtering on a text metadata column longer than 12
    # bytes (a document id) made a 100k KNN 3x slower than filtering by rowid set
    # (see sql_search.dense), so every filter is resolved in index_chunks instead.
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS vec_chunks USING vec0("
        " tenant_id TEXT PARTITION KEY,"
        f" embedding float[{dim}] distance_metric=cosine)"
    )
    # Contentless: the Store holds the text; the index keeps only the inverted lists.
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS fts_chunks USING fts5("
        " title, text,"
        f" tokenize='{TOKENIZE}',"
        " content='', contentless_delete=1)"
    )
    for ddl in (*terms.SCHEMA, *versions.SCHEMA):
        conn.exec_driver_sql(ddl)
    conn.exec_driver_sql(
        "INSERT OR REPLACE INTO index_meta (key, value) VALUES (?, ?), (?, ?), (?, ?)",
        (
            _META_MODEL,
            spec.model,
            _META_DIMENSION,
            str(dim),
            _META_SCHEMA,
            _SCHEMA_VERSION,
        ),
    )
    versions.ensure_epoch(conn)
    done = conn.exec_driver_sql("SELECT 1 FROM index_meta WHERE key = ?", (_META_TERMS,)).first()
    if done is None:
        # An index written before index_terms existed: its chunks' terms come from
        # FTS5 itself, once; the new epoch makes every process reload what it cached.
        if terms.backfill(conn):
            versions.new_epoch(conn)
        conn.exec_driver_sql("INSERT INTO index_meta (key, value) VALUES (?, '1')", (_META_TERMS,))


def _add_access_columns(conn: Connection) -> None:
    """Upgrade an index written before the access columns existed (schema 2), in place:
    add them and fill them from each row's payload, in the caller's transaction.

    The rows' ids, vectors and payloads stay as they are, so no cache is invalidated.
    """
    columns = {r[1] for r in conn.exec_driver_sql("PRAGMA table_info(index_chunks)").all()}
    if "collection_id" in columns:
        return
    conn.exec_driver_sql("ALTER TABLE index_chunks ADD COLUMN collection_id TEXT")
    conn.exec_driver_sql("ALTER TABLE index_chunks ADD COLUMN readers TEXT")
    conn.exec_driver_sql(SQLITE_BACKFILL)


def read_spec(conn: Connection) -> EmbeddingSpec | None:
    """The spec ``create`` recorded; None before the tables exist."""
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_meta'"
    ).first()
    if exists is None:
        return None
    meta: dict[str, str] = dict(conn.exec_driver_sql("SELECT key, value FROM index_meta").all())
    if _META_MODEL not in meta or _META_DIMENSION not in meta:
        return None
    return EmbeddingSpec(meta[_META_MODEL], int(meta[_META_DIMENSION]))
