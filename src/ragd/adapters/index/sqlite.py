"""The embedded Index: sqlite-vec for dense KNN, FTS5 for BM25, in the Store's SQLite file.

Living in the same database as the Store is the point: ``upsert_document`` and
``delete_document`` write through the Store's own transaction, so a document's chunks and
its index entries commit or roll back together and a replaced document is never
searchable in a stale form. The Index still keeps to its own tables (``index_*``,
``vec_chunks``, ``fts_chunks``) and never reads the Store's, so it stays rebuildable from
the Store by ``ragd reindex`` and swappable for Postgres or Qdrant.

The tables are created with plain SQL rather than Alembic because the vector table's
dimension depends on the configured embedding model; ``index_meta`` records which model
built them so that a changed ``EMBEDDING_MODEL`` is refused instead of silently mixing
two embedding spaces.

Searches run in memory when the tenant fits the cache budget (``cache.py``): a numpy
matrix for dense search and an inverted index scoring FTS5's BM25 formula for keywords,
kept coherent with the database by a per-tenant version and change log that every write
updates in its transaction (``versions.py``). Each write also stores its chunks' terms as
FTS5 tokenized them (``terms.py``, ``tokens.py``), so any process can load or patch its
postings. The vec0 KNN and FTS5 queries remain the path for tenants beyond the budget,
and FTS5 for a query word that it parses as a phrase (``foo_bar``).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from ragd.adapters.index import blas, terms, versions
from ragd.adapters.index import cache as cache_module
from ragd.adapters.index.cache import (
    IndexCache,
    Snapshot,
    dense_search,
    filter_mask,
    sparse_search,
)
from ragd.adapters.index.checks import (
    MAX_K,
    checked_entry_vectors,
    checked_query,
    side_size,
)
from ragd.adapters.index.fts import fts_match_expression, query_words
from ragd.adapters.index.tokens import TOKENIZE, Fts5Tokenizer
from ragd.adapters.sql.database import Database
from ragd.domain.filters import SearchFilters
from ragd.domain.fusion import rrf_fuse
from ragd.domain.models import EmbeddingSpec, IndexEntry, JsonScalar, ScoredChunk, TenantId
from ragd.errors import BackendUnavailable, ConfigError, IndexMismatch, InvalidRequest
from ragd.ports.index import IndexQuery
from ragd.ports.store import Transaction

POINT_READ_LIMIT = 1024
"""Up to this many chunks matching a filter, dense search reads their vectors by rowid and
ranks them in numpy: ~12 us a chunk, against ~25 ms for any vec0 scan of a 100k partition."""

EXACT_FILTER_LIMIT = 4096
"""Up to this many matching chunks, dense search hands their rowids to the vec0 KNN scan
(exact; vec0 skips the other vectors). Above it, an unfiltered KNN over-fetched by the
filter's estimated share and filtered afterwards is cheaper, and exact once k rows pass;
otherwise a KNN restricted by a subquery over index_chunks settles it (see ``_dense``)."""

HYBRID_WORKERS = 4
"""Searches' worker-thread sides running at once per index (see ``SqliteIndex.search``)."""

SELECTIVITY_SAMPLE = 8192
"""Chunks of the tenant looked at to estimate a wide filter's share before over-fetching."""

OVERFETCH_MARGIN = 1.5
"""Over-fetch = margin * k / estimated share: enough that k matches are almost always in."""

OVERFETCH_MAX_FACTOR = 4
"""Over-fetch at most k * this; a smaller filter share goes straight to a restricted scan."""

READ_PRAGMAS = ("PRAGMA mmap_size=1073741824", "PRAGMA cache_size=-32768")
"""Applied once to each pooled connection the index reads through (see ``_read``)."""

TERM_CACHE_SIZE = 200_000
"""Query terms whose vocabulary ids a process remembers (ids never change in an epoch)."""

_META_MODEL = "embedding_model"
_META_DIMENSION = "embedding_dimension"
_META_SCHEMA = "schema_version"
_META_TERMS = "terms_complete"
_SCHEMA_VERSION = "2"

_TABLES = (
    "fts_chunks",
    "vec_chunks",
    "index_chunks",
    *terms.TABLES,
    *versions.TABLES,
    "index_meta",
)

# OperationalError messages that mean "the database cannot serve us right now" (another
# writer holds the lock, the file vanished, the disk failed) as opposed to a bug in a query.
_TRANSIENT = (
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "interrupted",
    "database or disk is full",
    "readonly database",
    "attempt to write a readonly",
)


class SqliteIndex:
    """Index port over sqlite-vec + FTS5 tables next to the Store's tables.

    ``title_weight`` multiplies BM25 term weights found in a chunk's title column relative
    to its text column (FTS5 ``bm25()`` column weights). ``cache_bytes`` bounds the memory
    of in-memory tenants in this process (default ``cache.DEFAULT_MAX_BYTES``; 0 searches
    everything through SQL).
    """

    def __init__(
        self,
        db: Database,
        spec: EmbeddingSpec,
        *,
        title_weight: float = 1.0,
        cache_bytes: int | None = None,
    ) -> None:
        if not db.is_sqlite:
            raise ConfigError("SqliteIndex needs a SQLite database (sqlite:/// URL)")
        if spec.dimension < 1:
            raise ConfigError(f"embedding dimension must be positive, got {spec.dimension}")
        if not math.isfinite(title_weight) or title_weight < 0:
            raise ConfigError(f"title_weight must be a non-negative number, got {title_weight}")
        self._db = db
        self._spec = spec
        self._title_weight = float(title_weight)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        if cache_bytes is None:
            cache_bytes = cache_module.DEFAULT_MAX_BYTES
        self._cache = IndexCache(int(spec.dimension), max(0, int(cache_bytes)))
        self._tokenizer = Fts5Tokenizer()
        self._vocabulary = terms.WriterVocabulary()
        self._term_ids: tuple[str, dict[str, int]] = ("", {})

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    @property
    def cached_bytes(self) -> int:
        """Memory held by this process's in-memory tenants (their arrays, estimated)."""
        return self._cache.nbytes

    # ------------------------------------------------------------------ lifecycle

    def ensure_ready(self) -> None:
        """Create the tables for ``spec`` on first use; refuse an index built for another.

        Runs in a write transaction so two processes starting at once cannot both decide
        the index is missing and record different specs.
        """
        with _translate_errors(), self._db.write() as conn:
            stored = _read_spec(conn)
            if stored is None:
                self._create(conn)
                return
            if stored != self._spec:
                raise IndexMismatch(
                    f"index was built with {stored.model} ({stored.dimension}-d) but "
                    f"EMBEDDING_MODEL is {self._spec.model} ({self._spec.dimension}-d); "
                    "run `ragd reindex` to rebuild it from the Store"
                )
            # Same spec: recreate anything a crash or a manual drop left missing.
            self._create(conn)

    def stored_spec(self) -> EmbeddingSpec | None:
        with _translate_errors(), self._db.read() as conn:
            return _read_spec(conn)

    def rebuild(self) -> None:
        """Drop every index table and recreate them empty for ``spec``, atomically."""
        with _translate_errors(), self._db.write() as conn:
            for table in _TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            self._create(conn)
        self._cache.clear()

    def _create(self, conn: Connection) -> None:
        dim = int(self._spec.dimension)
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
            " metadata TEXT NOT NULL)"
        )
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_document"
            " ON index_chunks (tenant_id, document_id)"
        )
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_source"
            " ON index_chunks (tenant_id, source)"
        )
        # The tenant partition key keeps a tenant's KNN scan to its own vector chunks.
        # No vec0 metadata columns: filtering on a text metadata column longer than 12
        # bytes (a document id) made a 100k KNN 3x slower than filtering by rowid set
        # (see _dense), so every filter is resolved in index_chunks instead.
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
                self._spec.model,
                _META_DIMENSION,
                str(dim),
                _META_SCHEMA,
                _SCHEMA_VERSION,
            ),
        )
        versions.ensure_epoch(conn)
        done = conn.exec_driver_sql(
            "SELECT 1 FROM index_meta WHERE key = ?", (_META_TERMS,)
        ).first()
        if done is None:
            # An index written before index_terms existed: its chunks' terms come from
            # FTS5 itself, once; the new epoch makes every process reload what it cached.
            if terms.backfill(conn):
                versions.new_epoch(conn)
            conn.exec_driver_sql(
                "INSERT INTO index_meta (key, value) VALUES (?, '1')", (_META_TERMS,)
            )

    # ------------------------------------------------------------------ writes

    def upsert_document(
        self, tx: Transaction, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]
    ) -> None:
        """Replace the document's entries inside the caller's transaction.

        Everything is validated before the first write so that a bad vector fails the call
        without relying on the caller to roll back a half-written document.
        """
        conn = _connection(tx)
        rows: list[tuple[str, str, str, str, str]] = []
        vectors: list[bytes] = []
        texts: list[tuple[str, str]] = []
        checked = checked_entry_vectors(document_id, entries, self._spec)
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
        chunk_terms = self._tokenizer.chunks(texts)
        with _translate_errors():
            removed = self._delete(conn, tenant, document_id)
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
            rowid_of = dict(
                conn.exec_driver_sql(
                    "SELECT chunk_id, rowid FROM index_chunks"
                    " WHERE tenant_id = ? AND document_id = ?",
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
            terms.write(conn, rowids, chunk_terms, self._vocabulary)
            versions.bump(conn, tenant, [*removed, *rowids])

    def delete_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        conn = _connection(tx)
        with _translate_errors():
            removed = self._delete(conn, tenant, document_id)
            if removed:
                versions.bump(conn, tenant, removed)

    @staticmethod
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

    # ------------------------------------------------------------------ reads

    def version(self, tenant: TenantId) -> str:
        """Changes with every committed write to the tenant's rows, and with a rebuild."""
        with _translate_errors(), self._db.read() as conn:
            stamp = versions.stamp(conn, tenant)
        return f"{stamp.epoch}:{stamp.version}"

    def count(self, tenant: TenantId) -> int:
        with _translate_errors(), self._db.read() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM index_chunks WHERE tenant_id = ?", (tenant,)
                ).scalar_one()
            )

    def stored_vectors(self, tenant: TenantId, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of these chunks as stored (``VectorSource``: a reindex into another
        backend copies them instead of embedding every chunk again)."""
        out: dict[str, np.ndarray] = {}
        with _translate_errors(), self._read() as conn:
            for start in range(0, len(chunk_ids), 500):
                rows = conn.exec_driver_sql(
                    "SELECT c.chunk_id, v.embedding FROM json_each(?) j"
                    " CROSS JOIN index_chunks c ON c.chunk_id = j.value"
                    " CROSS JOIN vec_chunks v ON v.rowid = c.rowid"
                    " WHERE c.tenant_id = ?",
                    (json.dumps(list(chunk_ids[start : start + 500])), tenant),
                ).all()
                for chunk_id, blob in rows:
                    out[chunk_id] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def search(self, tenant: TenantId, query: IndexQuery) -> list[ScoredChunk]:
        checked = checked_query(query, self._spec)
        qvec = None if checked is None else checked.tobytes()
        where, params = _filter_sql(query.filters)  # validates the filters, too
        words = query_words(query.text) if query.mode != "dense" else []
        n = side_size(query)
        snap, phrases = self._cached(tenant, words)
        if snap is None:
            return self._search_sql(tenant, query, qvec, n, where, params)
        mask = filter_mask(snap, query.filters)
        if qvec is None:  # sparse
            if not words:
                return []
            return self._memory_or_fts_sparse(
                snap, phrases, tenant, query.text, n, mask, where, params
            )
        # The dense gemv runs on a worker thread (one BLAS thread, see blas.py) while this
        # thread does the keyword side: the gemv releases the GIL, as do most BM25 array
        # operations, so a hybrid search costs about its slower side.
        vector = np.frombuffer(qvec, dtype=np.float32)
        dense_job = self._executor().submit(dense_search, snap, vector, n, mask)
        if query.mode == "dense":
            return dense_job.result()
        try:
            sparse = (
                self._memory_or_fts_sparse(
                    snap, phrases, tenant, query.text, n, mask, where, params
                )
                if words
                else []
            )
        except BaseException:
            dense_job.cancel()
            wait([dense_job])
            raise
        dense = dense_job.result()
        return rrf_fuse(
            dense,
            sparse,
            k=query.rrf_k,
            dense_weight=query.dense_weight,
            sparse_weight=query.sparse_weight,
            limit=query.k,
        )

    def _memory_or_fts_sparse(
        self,
        snap: Snapshot,
        phrases: list[int | None] | None,
        tenant: TenantId,
        text: str,
        k: int,
        mask: np.ndarray | None,
        where: str,
        params: list[Any],
    ) -> list[ScoredChunk]:
        """In-memory BM25, or FTS5 for a query the in-memory index does not model."""
        if phrases is not None:
            return sparse_search(snap, phrases, k, mask, title_weight=self._title_weight)
        return self._sparse_search(tenant, fts_match_expression(text), k, where, params)

    def _cached(
        self, tenant: TenantId, words: list[str]
    ) -> tuple[Snapshot | None, list[int | None] | None]:
        """The tenant's current snapshot (None: search through SQL) and the query's
        phrases as term ids (None: let FTS5 rank this query)."""
        if self._cache.max_bytes <= 0:
            return None, None
        with _translate_errors(), self._read() as conn:
            snap = self._cache.snapshot(conn, tenant)
            if snap is None or not words or not snap.sparse_ok:
                return snap, None
            return snap, self._phrases(conn, words, snap.stamp.epoch)

    def _phrases(self, conn: Connection, words: list[str], epoch: str) -> list[int | None] | None:
        """Vocabulary ids of the query words' FTS5 tokens, one per word, in order.

        None when a word is several tokens (``foo_bar``): FTS5 matches that as a phrase,
        which the in-memory index does not model. A word with no token is dropped, as
        FTS5 drops it; an id of None is a term no chunk has.
        """
        tokens: list[str] = []
        for word in words:
            parts = self._tokenizer.query_word(word)
            if len(parts) > 1:
                return None
            tokens.extend(parts)
        known_epoch, known = self._term_ids
        if known_epoch != epoch or len(known) > TERM_CACHE_SIZE:
            known = {}
            self._term_ids = (epoch, known)
        missing = [t for t in tokens if t not in known]
        if missing:
            # Only found ids are remembered: a missing term may be added by a later write.
            known.update(terms.term_ids(conn, missing, create=False))
        return [known.get(t) for t in tokens]

    def _search_sql(
        self,
        tenant: TenantId,
        query: IndexQuery,
        qvec: bytes | None,
        n: int,
        where: str,
        params: list[Any],
    ) -> list[ScoredChunk]:
        """vec0 KNN and FTS5 BM25: for tenants the in-memory cache does not hold."""
        match = fts_match_expression(query.text) if query.mode != "dense" else None
        if query.mode == "sparse":
            return self._sparse_search(tenant, match, n, where, params)
        assert qvec is not None  # checked above; narrows the type
        if match is None:  # dense, or a hybrid query without a single content word
            with _translate_errors(), self._read() as conn:
                dense = _dense(conn, tenant, qvec, n, where, params)
            if query.mode == "dense":
                return dense
            return rrf_fuse(
                dense,
                [],
                k=query.rrf_k,
                dense_weight=query.dense_weight,
                sparse_weight=query.sparse_weight,
                limit=query.k,
            )
        # Hybrid: the two sides are independent scans that each hold the GIL only between
        # SQLite steps, so the sparse side runs on a worker thread (its own connection)
        # while this thread does the dense side; the latency is the slower side's, not
        # the sum (measured 242 -> 178 ms p50 on a 100k-chunk hybrid search, 2 idle cores).
        sparse_job = self._executor().submit(self._sparse_search, tenant, match, n, where, params)
        try:
            with _translate_errors(), self._read() as conn:
                dense = _dense(conn, tenant, qvec, n, where, params)
        except BaseException:
            sparse_job.cancel()
            wait([sparse_job])
            raise
        sparse = sparse_job.result()
        return rrf_fuse(
            dense,
            sparse,
            k=query.rrf_k,
            dense_weight=query.dense_weight,
            sparse_weight=query.sparse_weight,
            limit=query.k,
        )

    def _sparse_search(
        self, tenant: TenantId, match: str | None, k: int, where: str, params: list[Any]
    ) -> list[ScoredChunk]:
        """BM25 top-k for an FTS5 expression from ``fts_match_expression`` (None: no terms)."""
        if match is None:
            return []
        with _translate_errors(), self._read() as conn:
            rows = conn.exec_driver_sql(
                "SELECT c.chunk_id, bm25(fts_chunks, ?, 1.0) AS rank"
                " FROM fts_chunks JOIN index_chunks c ON c.rowid = fts_chunks.rowid"
                f" WHERE fts_chunks MATCH ? AND c.tenant_id = ?{where}"
                " ORDER BY rank, c.chunk_id LIMIT ?",
                (self._title_weight, match, tenant, *params, k),
            ).all()
        # FTS5's bm25() is "lower is better" (negated BM25); flip it so higher is better.
        return [
            ScoredChunk(chunk_id, -float(rank), sparse_rank=i)
            for i, (chunk_id, rank) in enumerate(rows, start=1)
        ]

    def _executor(self) -> ThreadPoolExecutor:
        """Threads for one side of searches (see ``search``), started on first use.

        Bounded so that a burst of concurrent hybrid searches queues instead of opening
        more SQLite connections than the engine's pool holds.
        """
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=HYBRID_WORKERS,
                        thread_name_prefix="ragd-index",
                        initializer=blas.limit_this_thread,
                    )
        return self._pool

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read connection tuned for scanning the index, once per pooled connection.

        The KNN scan reads every vector of the tenant's partition and FTS5 walks long
        doclists: memory-mapping the file avoids copying each page through SQLite's page
        cache (measured ~10-20% off a 100k-chunk dense search), and a larger cache keeps
        FTS5's hot b-tree pages resident between queries.
        """
        with self._db.read() as conn:
            info = conn.connection.info
            if not info.get("ragd_index_pragmas"):
                for pragma in READ_PRAGMAS:
                    conn.exec_driver_sql(pragma)
                info["ragd_index_pragmas"] = True
            yield conn


# ---------------------------------------------------------------------- helpers


def build(db: Database, spec: EmbeddingSpec, settings: Any = None) -> SqliteIndex:
    """Factory for the backend registry; ``settings.index_title_weight`` and
    ``settings.index_cache_mb`` (in-memory search budget) where they exist."""
    weight = getattr(settings, "index_title_weight", 1.0)
    cache_mb = getattr(settings, "index_cache_mb", None)
    cache_bytes = None if cache_mb is None else int(float(cache_mb) * 2**20)
    return SqliteIndex(db, spec, title_weight=float(weight), cache_bytes=cache_bytes)


def _dense(
    conn: Connection, tenant: TenantId, qvec: bytes, k: int, where: str, params: list[Any]
) -> list[ScoredChunk]:
    """Exact cosine top-k in the tenant, under the filter conditions ``where``.

    Filters live in ``index_chunks``, not in vec0, so the strategy follows the number of
    matching chunks (thresholds measured on 100k x 384-d): a few are read by rowid and
    ranked in numpy; up to ``EXACT_FILTER_LIMIT`` are handed to the KNN scan as a rowid
    set; more are found by over-fetching an unfiltered KNN and post-filtering, or by a
    KNN restricted to a subquery when the filter's share is small or the over-fetch
    came up short. Every path returns the exact filtered top-k.
    """
    if not where:
        return _knn(conn, tenant, qvec, k)
    rows = conn.exec_driver_sql(
        f"SELECT c.rowid, c.chunk_id FROM index_chunks c WHERE c.tenant_id = ?{where} LIMIT ?",
        (tenant, *params, EXACT_FILTER_LIMIT + 1),
    ).all()
    if len(rows) <= POINT_READ_LIMIT:
        return _rank_by_rowid(conn, qvec, k, dict(rows))
    if len(rows) <= EXACT_FILTER_LIMIT:
        ids = json.dumps([r[0] for r in rows])
        return _knn(conn, tenant, qvec, min(k, len(rows)), ids_sql=_IDS_JSON, ids_params=[ids])
    # Many matches: over-fetch an unfiltered KNN and filter in the join; any k rows that
    # pass are the filtered top-k (every closer chunk was seen and rejected). A KNN's cost
    # grows with its k, so the over-fetch is sized from the filter's share of a sample of
    # the tenant, and skipped for a small share, where a scan restricted to the matches is
    # cheaper (100k chunks: k=200 ~100 ms, k=400 ~160 ms, restricted scan ~195 ms).
    sampled, passed = conn.exec_driver_sql(
        f"SELECT count(*), coalesce(sum(CASE WHEN 1{where} THEN 1 ELSE 0 END), 0)"
        " FROM (SELECT * FROM index_chunks c WHERE c.tenant_id = ? LIMIT ?) c",
        (*params, tenant, SELECTIVITY_SAMPLE),
    ).one()
    if passed:
        fetch = math.ceil(OVERFETCH_MARGIN * k * sampled / passed)
        if fetch <= min(MAX_K, OVERFETCH_MAX_FACTOR * k):
            hits = _knn(conn, tenant, qvec, fetch, where=where, params=params)
            if len(hits) >= k:
                return hits[:k]
    # The matches sit behind many closer non-matching chunks: let vec0 scan only them.
    return _knn(
        conn,
        tenant,
        qvec,
        k,
        ids_sql=f" AND rowid IN (SELECT c.rowid FROM index_chunks c WHERE c.tenant_id = ?{where})",
        ids_params=[tenant, *params],
    )


_IDS_JSON = " AND rowid IN (SELECT value FROM json_each(?))"


def _knn(
    conn: Connection,
    tenant: TenantId,
    qvec: bytes,
    k: int,
    *,
    ids_sql: str = "",
    ids_params: Sequence[Any] = (),
    where: str = "",
    params: Sequence[Any] = (),
) -> list[ScoredChunk]:
    """One vec0 KNN in the tenant's partition, joined to index_chunks for ids and filters.

    ``ids_sql`` restricts the scan itself (a rowid set vec0 checks per vector);
    ``where`` filters the k neighbours afterwards. The KNN is MATERIALIZED so the planner
    cannot flatten it into the join and hand vec0 a per-row rowid lookup instead of the
    MATCH scan.
    """
    if k < 1:
        return []
    rows = conn.exec_driver_sql(
        "WITH knn AS MATERIALIZED ("
        " SELECT rowid, distance FROM vec_chunks"
        f" WHERE embedding MATCH ? AND k = ? AND tenant_id = ?{ids_sql})"
        " SELECT c.chunk_id, knn.distance FROM knn JOIN index_chunks c ON c.rowid = knn.rowid"
        f" WHERE c.tenant_id = ?{where}"
        " ORDER BY knn.distance, c.chunk_id",
        (qvec, k, tenant, *ids_params, tenant, *params),
    ).all()
    # vec0's cosine distance is 1 - cosine similarity.
    return [
        ScoredChunk(chunk_id, 1.0 - float(distance), dense_rank=i)
        for i, (chunk_id, distance) in enumerate(rows, start=1)
    ]


def _rank_by_rowid(
    conn: Connection, qvec: bytes, k: int, chunk_ids: dict[int, str]
) -> list[ScoredChunk]:
    """Exact cosine ranking of a few chunks, reading their vectors by rowid.

    A vec0 KNN always walks the whole partition (~25 ms at 100k chunks even with a tiny
    rowid set), while a point read costs microseconds; the CROSS JOIN makes SQLite look
    each rowid up instead of scanning vec_chunks for the set.
    """
    if not chunk_ids:
        return []
    rows = conn.exec_driver_sql(
        "SELECT j.value, v.embedding FROM json_each(?) j"
        " CROSS JOIN vec_chunks v ON v.rowid = j.value",
        (json.dumps(list(chunk_ids)),),
    ).all()
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    q = np.frombuffer(qvec, dtype=np.float32).astype(np.float64)
    sims = (matrix @ q) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    ranked = sorted(
        ((float(sim), chunk_ids[int(r[0])]) for sim, r in zip(sims, rows, strict=True)),
        key=lambda sc: (-sc[0], sc[1]),
    )[:k]
    return [ScoredChunk(chunk_id, sim, dense_rank=i) for i, (sim, chunk_id) in enumerate(ranked, 1)]


def _filter_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    """`` AND ...`` conditions on ``index_chunks c`` for the filters, with their params."""
    sql: list[str] = []
    params: list[Any] = []
    if filters.document_ids:
        sql.append(f"c.document_id IN ({_marks(filters.document_ids)})")
        params.extend(filters.document_ids)
    if filters.sources:
        sql.append(f"c.source IN ({_marks(filters.sources)})")
        params.extend(filters.sources)
    for key, value in filters.metadata.items():
        cond, cond_params = _metadata_condition(key, value)
        sql.append(cond)
        params.extend(cond_params)
    return "".join(f" AND {s}" for s in sql), params


def _metadata_condition(key: str, value: JsonScalar) -> tuple[str, list[Any]]:
    """Equality on a top-level metadata key that respects JSON types.

    ``json_extract`` turns JSON true/false into 1/0, so ``= 1`` alone would match both
    ``true`` and ``1``; ``json_type`` tells them apart. Numbers compare by value (1 and
    1.0 are equal, as in JSON), strings only with strings, and None matches a key that
    is absent or explicitly null.
    """
    if not key or '"' in key or "\\" in key:
        raise InvalidRequest(f"metadata filter key {key!r} is not allowed")
    path = f'$."{key}"'
    if value is None:
        return "coalesce(json_type(c.metadata, ?), 'null') = 'null'", [path]
    if isinstance(value, bool):
        return "json_type(c.metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} must be a finite number")
        return (
            "(json_type(c.metadata, ?) IN ('integer', 'real') AND json_extract(c.metadata, ?) = ?)",
            [path, path, value],
        )
    if isinstance(value, str):
        return (
            "(json_type(c.metadata, ?) = 'text' AND json_extract(c.metadata, ?) = ?)",
            [path, path, value],
        )
    raise InvalidRequest(f"metadata filter {key!r} must compare with a string, number or boolean")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _read_spec(conn: Connection) -> EmbeddingSpec | None:
    exists = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_meta'"
    ).first()
    if exists is None:
        return None
    meta = dict(conn.exec_driver_sql("SELECT key, value FROM index_meta").all())
    if _META_MODEL not in meta or _META_DIMENSION not in meta:
        return None
    return EmbeddingSpec(meta[_META_MODEL], int(meta[_META_DIMENSION]))


def _connection(tx: Transaction) -> Connection:
    """The SQLAlchemy Connection behind the Store's opaque transaction handle."""
    if not isinstance(tx, Connection):
        raise TypeError(
            f"SqliteIndex writes through the SQL Store's transaction (a SQLAlchemy "
            f"Connection), got {type(tx).__name__}"
        )
    return tx


@contextmanager
def _translate_errors() -> Iterator[None]:
    """Backend failures become ragd errors; query bugs stay loud.

    A locked, missing or failing database file is ``BackendUnavailable`` (retryable);
    missing index tables mean nobody ran ``ensure_ready``/``ragd reindex``. Any other
    OperationalError (SQL syntax, a bad vec0/FTS5 argument) is a bug and propagates.
    """
    try:
        yield
    except OperationalError as exc:
        message = str(exc.orig).lower()
        if any(marker in message for marker in _TRANSIENT):
            raise BackendUnavailable(f"index database unavailable: {exc.orig}") from exc
        if "no such table" in message:
            raise ConfigError(
                f"index tables are missing ({exc.orig}); start ragd normally or run "
                "`ragd reindex` to create them"
            ) from exc
        raise
