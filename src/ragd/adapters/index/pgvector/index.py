"""The Index on Postgres: pgvector HNSW for dense search, tsvector + GIN for keywords.

Same contract as the SQLite index, same reasons for living in the Store's database:
``upsert_document``/``delete_document`` write through the Store's own transaction, so a
document's chunks and its index rows commit or roll back together. The Index keeps to its
own tables (``index_chunks``, ``index_meta``, ``index_tenants``) and never reads the
Store's, so ``ragd reindex`` can always rebuild it. Tables are created by ``ensure_ready``
rather than by Alembic because the vector column's dimension is the embedding model's.

Dense search is exact (a scan of the tenant's rows) while the rows it must look at are few
(``exact_below``), and otherwise an HNSW scan (cosine, ``m``/``ef_construction`` at build,
``ef_search`` per query). One HNSW graph serves every tenant, so the tenant condition (and
any metadata filter) is applied while the graph is walked: pgvector 0.8's iterative scan
(``hnsw.iterative_scan = relaxed_order``) keeps walking until enough rows pass, up to
``hnsw.max_scan_tuples``. A search with a permission or metadata filter first walks a
bounded distance and keeps the passing rows among all it reached
(``_short_walk_first``), walking on only when those are too few. If it still comes up
short the search is redone exactly, so a selective filter costs time, never results.
``tests/contract/test_pgvector_index.py`` measures the recall of the approximate path
against exact search.

Sparse search matches the OR of the query's lexemes against a ``tsvector`` of title (label
A) and text (label D) through a GIN index on (tenant, tsvector), and ranks BM25-style: per
lexeme, its IDF in the tenant (document frequencies kept in ``index_terms`` by the same
statements that write the rows) times ``ts_rank`` of that lexeme alone (see
``sql.score_sql``; measured against FTS5's BM25 in bench/pgvector_results.md).
Hybrid search with reciprocal-rank fusion is one statement that runs both sides and fuses
them in SQL; weighted (score) fusion runs both sides in one transaction and fuses them with
the shared ``index.fusion`` helper, as the other indexes do. ``version(tenant)`` is a
per-tenant counter, bumped in the writing transaction, that the answer cache keys on.

Row-level security: ``index_tenants``, ``index_chunks`` and ``index_terms`` carry the
tenant policies of ``ragd.adapters.sql.rls`` (applied by ``ensure_ready``, since these
tables are not Alembic's). Searches and counts run scoped to their tenant, writes scope the
Store's transaction to theirs; ``ensure_ready`` and ``rebuild`` (DDL, and every tenant's
version moved on) are the system scope's. Once everything exists ``ensure_ready`` sends no
DDL: it would need the tables' owner and take locks that queue behind running searches.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, ProgrammingError

from ragd.adapters.index.checks import (
    checked_entry_vectors,
    checked_query,
    side_size,
)
from ragd.adapters.index.fusion import fuse_hybrid
from ragd.adapters.index.pgvector import graphs, schema
from ragd.adapters.index.pgvector import sql as q
from ragd.adapters.index.pgvector.ranking import (
    EXTRA_SLOTS,
    SPARSE_MAX_SCORED,
    SPARSE_NORMALIZATION,
    SPARSE_WEIGHTS,
)
from ragd.adapters.index.words import query_words
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM, scoped
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId
from ragd.errors import ConfigError, IndexMismatch, InvalidRequest
from ragd.ports.index import IndexQuery
from ragd.ports.store import Transaction

log = logging.getLogger(__name__)


MAX_HNSW_DIMENSION = 2000
"""pgvector's HNSW limit for the ``vector`` type."""

EXACT_BELOW = 10_000
"""A tenant with at most this many rows is searched exactly: a scan of 10k 384-d vectors
takes a few milliseconds, and exact is what the contract suite (and users) expect."""

MAX_SCAN_TUPLES = 40_000
"""``hnsw.max_scan_tuples`` for iterative scans (pgvector's default is 20,000): enough for
a tenant holding 1% of a shared graph to fill 200 candidates under a 50% filter."""

SHORT_WALK_FACTOR = 20
"""A filtered search's first walk visits at most this many times ``ef_search`` tuples
(``hnsw.max_scan_tuples``) before it takes the best passing rows among all it reached
(``_short_walk_first``). At 100k chunks under a 17 % permission filter: x20 (2,000)
cost about what the unfiltered search costs, x40 +31 %, the unbounded walk +150 %; on
SciFact vectors the fused top 10 agreed with exact search 0.938 at x20, 0.967 at x40
(the unfiltered search's own: 0.967), 0.982 unbounded (bench/README.md)."""

BUILD_MEMORY = "1GB"
"""``maintenance_work_mem`` while ``maintain`` builds a tenant's graph
(``RAGD_PG_BUILD_MEMORY``): one build at a time across processes, so the server spends it
once. 1GB holds the graph of ~500k 384-d rows."""

_LOCK = 0x72616769  # advisory lock serialising ensure_ready/rebuild across processes


WRITE_BATCH = 1000
"""Index rows per INSERT statement (``upsert_document``)."""


class PgVectorIndex:
    """Index port over pgvector + Postgres full-text search, in the Store's database."""

    def __init__(
        self,
        db: Database,
        spec: EmbeddingSpec,
        *,
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 100,
        exact_below: int = EXACT_BELOW,
        max_scan_tuples: int = MAX_SCAN_TUPLES,
        sparse_weights: Sequence[float] = SPARSE_WEIGHTS,
        sparse_normalization: int = SPARSE_NORMALIZATION,
        sparse_max_scored: int = SPARSE_MAX_SCORED,
        build_memory: str = BUILD_MEMORY,
    ) -> None:
        if not db.is_postgres:
            raise ConfigError("VECTOR_STORE_TYPE=pgvector needs a postgresql:// DATABASE_URL")
        if spec.dimension < 1:
            raise ConfigError(f"embedding dimension must be positive, got {spec.dimension}")
        if spec.dimension > MAX_HNSW_DIMENSION:
            raise ConfigError(
                f"pgvector HNSW indexes at most {MAX_HNSW_DIMENSION} dimensions, "
                f"{spec.model} has {spec.dimension}"
            )
        if m < 2 or ef_construction < 2 * m or not 1 <= ef_search <= 1000:
            raise ConfigError(
                "HNSW settings out of range: need m >= 2, ef_construction >= 2*m, "
                f"1 <= ef_search <= 1000 (got m={m}, ef_construction={ef_construction}, "
                f"ef_search={ef_search})"
            )
        if len(sparse_weights) != 4:
            raise ConfigError("sparse_weights takes four weights: D, C, B, A")
        if not re.fullmatch(r"\d+\s*(kB|MB|GB)", build_memory):
            raise ConfigError(f"build memory must look like 512MB or 1GB, got {build_memory!r}")
        if sparse_max_scored < 1:
            raise ConfigError(f"sparse_max_scored must be positive, got {sparse_max_scored}")
        self._db = db
        self._spec = spec
        self._m = int(m)
        self._ef_construction = int(ef_construction)
        self._ef_search = int(ef_search)
        self._exact_below = int(exact_below)
        self._sparse_max_scored = int(sparse_max_scored)
        self._cannot_maintain = False
        self._build_memory = build_memory
        self._max_scan_tuples = int(max_scan_tuples)
        self._rank_weights = [float(w) for w in sparse_weights]
        self._rank_norm = int(sparse_normalization)

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    # ------------------------------------------------------------------ lifecycle

    def ensure_ready(self) -> None:
        """Create the tables for ``spec`` on first use; refuse an index built for another.

        Serialised across processes by an advisory lock, so two replicas starting at once
        cannot both decide the index is missing and record different specs.
        """
        with self._db.write(SYSTEM) as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
            stored = schema.read_spec(conn)
            if stored is not None and stored != self._spec:
                raise IndexMismatch(
                    f"index was built with {stored.model} ({stored.dimension}-d) but "
                    f"EMBEDDING_MODEL is {self._spec.model} ({self._spec.dimension}-d); "
                    "run `ragd reindex` to rebuild it from the Store"
                )
            if stored == self._spec and schema.complete(conn):
                return
            # Same spec (or none yet): create whatever is missing.
            self._create(conn)

    def stored_spec(self) -> EmbeddingSpec | None:
        return self._db.run_read(schema.read_spec)

    def maintain(self) -> str | None:
        """Build the per-tenant graph of one tenant above the exact threshold that lacks
        one (``graphs.py``); returns the tenant, None when none does.

        The tenant's writes (and everyone else's) go on while it builds, and its searches
        use the shared graph until it is valid; one builder at a time across processes
        (others return None). A role that does not own the tables cannot build it:
        ``ConfigError`` once (workers log it), None after; searches keep the shared graph
        (``ragd maintain`` as the owner).
        """
        if self._cannot_maintain:
            return None
        try:
            return graphs.build_next(
                self._db,
                exact_below=self._exact_below,
                m=self._m,
                ef_construction=self._ef_construction,
                build_memory=self._build_memory,
            )
        except graphs.NotTableOwner:
            self._cannot_maintain = True  # said once; later calls return None
            raise

    def rebuild(self) -> None:
        """Drop every entry and recreate the tables empty for ``spec``, atomically.

        Tenants' versions move on (never back), so caches keyed on them are invalidated.
        """
        with self._db.write(SYSTEM) as conn:  # every tenant's version moves on
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
            for table in q.DROP_TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            self._create(conn)
            conn.exec_driver_sql(
                "UPDATE index_tenants SET version = nextval('index_version_seq'), chunks = 0"
            )

    def _create(self, conn: Connection) -> None:
        schema.create(conn, self._spec, m=self._m, ef_construction=self._ef_construction)

    # ------------------------------------------------------------------ writes

    def upsert_document(
        self, tx: Transaction, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]
    ) -> None:
        """Replace the document's rows inside the caller's transaction.

        Everything is validated before the first write; the rows go in as
        ``INSERT … SELECT FROM unnest(...)``, ``WRITE_BATCH`` rows a statement (one round
        trip per small document; a huge one neither builds all its rows' parameters at once
        nor runs one statement of minutes into ``RAGD_STATEMENT_TIMEOUT_MS``), and the
        tenant's version is bumped in the same transaction.
        """
        conn = scoped(tx, tenant)
        checked = checked_entry_vectors(document_id, entries, self._spec)
        keys = {"tenant": tenant, "document_id": document_id}
        with _translate():
            conn.exec_driver_sql(q.BUMP_VERSION, keys)  # first: the tenant's write lock
            deleted = int(conn.exec_driver_sql(q.DELETE_DOCUMENT, keys).scalar_one())
            for start in range(0, len(entries), WRITE_BATCH):
                cols = q.insert_columns(
                    entries[start : start + WRITE_BATCH], checked[start : start + WRITE_BATCH]
                )
                try:
                    conn.exec_driver_sql(q.INSERT_CHUNKS, {**keys, **cols})
                except IntegrityError as exc:
                    raise InvalidRequest(
                        "a chunk id of this document is already indexed under another "
                        "document or tenant; chunk ids must be unique"
                    ) from exc
            if len(entries) != deleted:
                conn.exec_driver_sql(q.ADD_CHUNKS, {**keys, "delta": len(entries) - deleted})

    def delete_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        conn = scoped(tx, tenant)
        keys = {"tenant": tenant, "document_id": document_id}
        with _translate():
            conn.exec_driver_sql(q.BUMP_VERSION, keys)
            deleted = int(conn.exec_driver_sql(q.DELETE_DOCUMENT, keys).scalar_one())
            if deleted:
                conn.exec_driver_sql(q.ADD_CHUNKS, {**keys, "delta": -deleted})

    # ------------------------------------------------------------------ reads

    def count(self, tenant: TenantId) -> int:
        return self._tenant_value(tenant, "chunks")

    def version(self, tenant: TenantId) -> int:
        """The tenant's index version: changes with every committed upsert or delete that
        touched its rows (and on rebuild), never repeats; 0 for a tenant never written."""
        return self._tenant_value(tenant, "version")

    def _tenant_value(self, tenant: TenantId, column: str) -> int:
        def read(conn: Connection) -> int:
            with _translate():
                value = conn.exec_driver_sql(
                    f"SELECT {column} FROM index_tenants WHERE tenant_id = %(tenant)s",
                    {"tenant": tenant},
                ).scalar()
            return int(value or 0)

        return self._db.run_read(read, tenant)

    def stored_vectors(self, tenant: TenantId, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of these chunks as stored (``VectorSource``: a reindex copies them, and
        dense feedback adds the top hits' vectors to the query), read under the tenant's
        row-level security."""
        ids = list(dict.fromkeys(chunk_ids))

        def read(conn: Connection) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            with _translate():
                for start in range(0, len(ids), 500):
                    rows = conn.exec_driver_sql(
                        "SELECT chunk_id, embedding::text FROM index_chunks"
                        " WHERE tenant_id = %(tenant)s AND chunk_id = ANY(%(ids)s)",
                        {"tenant": tenant, "ids": ids[start : start + 500]},
                    ).all()
                    for chunk_id, text in rows:
                        out[chunk_id] = np.asarray(json.loads(text), dtype=np.float32)
            return out

        return self._db.run_read(read, tenant) if ids else {}

    def search(self, tenant: TenantId, query: IndexQuery) -> list[ScoredChunk]:
        qvec = checked_query(query, self._spec)
        params: dict[str, Any] = {"tenant": tenant, "n": side_size(query)}
        where = q.filter_sql(query.filters, params)
        if query.mode != "dense":
            words = query_words(q.fold(query.text or ""))
            params["words"] = words
            params["slots"] = slots = len(words) + EXTRA_SLOTS
            params["rank_weights"] = self._rank_weights
            params["rank_norm"] = self._rank_norm
            params["sparse_budget"] = self._sparse_max_scored
        if qvec is None:  # sparse
            if not params["words"]:
                return []
            return self._db.run_read(lambda conn: self._sparse(conn, where, params, slots), tenant)
        params["qvec"] = q.vector_literal(qvec)
        if query.mode == "dense":
            return self._db.run_read(lambda conn: self._dense(conn, where, params, query), tenant)
        if query.fusion == "weighted":
            # Score fusion needs each side's scores; both sides run in one transaction.
            return self._db.run_read(
                lambda conn: fuse_hybrid(
                    query,
                    self._dense(conn, where, params, query),
                    self._sparse(conn, where, params, slots) if params["words"] else [],
                ),
                tenant,
            )
        params.update(
            k=query.k,
            rrf_k=int(query.rrf_k),
            dense_weight=float(query.dense_weight),
            sparse_weight=float(query.sparse_weight),
        )
        return self._db.run_read(
            lambda conn: self._hybrid(conn, where, params, query, slots), tenant
        )

    def _prepare(
        self, conn: Connection, params: dict[str, Any], *, short_walk: bool = False
    ) -> int:
        """Session settings for this search's transaction; returns the tenant's row count.

        ``short_walk``: the graph walk stops after ``SHORT_WALK_FACTOR`` x ``ef_search``
        visited tuples (see ``_short_walk_first``)."""
        ef_search = min(1000, max(self._ef_search, int(params["n"])))
        row = conn.exec_driver_sql(
            q.PREPARE_SEARCH,
            {
                "tenant": params["tenant"],
                "ef_search": str(ef_search),
                "max_scan_tuples": str(
                    min(ef_search * SHORT_WALK_FACTOR, self._max_scan_tuples)
                    if short_walk
                    else self._max_scan_tuples
                ),
            },
        ).one()
        return int(row[-1] or 0)

    @staticmethod
    def _short_walk_first(query: IndexQuery) -> bool:
        """Whether an approximate dense search first walks the graph only as far as an
        unfiltered search does, and walks on only if that came up short.

        Under a filter that passes a small share of the rows (a caller's permissions, a
        metadata filter), an iterative scan for ``n`` rows walks ~n/share graph tuples: at
        100k rows, 100 fusion candidates under a 17 % permission filter cost 585 tuples
        and 4-5x the time of the same search without the filter. The first attempt
        therefore stops the iterative scan after ``SHORT_WALK_FACTOR`` x ``ef_search``
        visited tuples (``hnsw.max_scan_tuples``) and keeps the nearest rows that pass
        among every tuple the walk reached (once over the budget, pgvector's iterative
        scan hands out the ones it had discarded, best first); only when those are fewer
        than ``n`` does the search walk on (unbounded iterative scan), and only when that
        also comes up short does it scan exactly. Cost and agreement with exact search:
        bench/README.md, "Permission filters".
        """
        return bool(query.filters.access or query.filters.metadata)

    def _exact(self, rows: int, query: IndexQuery) -> bool:
        """Exact dense search for small tenants and for id/source filters (whose rows an
        ordinary index finds directly); HNSW for everything else."""
        filters = query.filters
        return rows <= self._exact_below or bool(filters.document_ids or filters.sources)

    def _dense(
        self, conn: Connection, where: str, params: dict[str, Any], query: IndexQuery
    ) -> list[ScoredChunk]:
        short = self._short_walk_first(query)
        with _translate():
            rows = self._prepare(conn, params, short_walk=short)
            if rows == 0:
                return []
            found: Sequence[Any] = []
            walks = 0 if self._exact(rows, query) else 1 + short
            for walk in range(walks):
                if walk:  # the short walk came up short: walk on
                    self._prepare(conn, params)
                found = conn.exec_driver_sql(q.dense_sql(where, exact=False), params).all()
                if len(found) >= min(params["n"], rows):
                    break
            else:
                # Exact by choice, or the graph walk stopped (max_scan_tuples) before n rows
                # passed the conditions: only an exact scan can tell whether more exist.
                found = conn.exec_driver_sql(q.dense_sql(where, exact=True), params).all()
        return [
            ScoredChunk(cid, 1.0 - float(dist), dense_rank=i, similarity=1.0 - float(dist))
            for i, (cid, dist) in enumerate(found, start=1)
        ]

    def _sparse(
        self, conn: Connection, where: str, params: dict[str, Any], slots: int
    ) -> list[ScoredChunk]:
        with _translate():
            if self._prepare(conn, params) == 0:
                return []
            found = conn.exec_driver_sql(q.sparse_sql(where, slots), params).all()
        return [
            ScoredChunk(cid, float(score), sparse_rank=i)
            for i, (cid, score) in enumerate(found, start=1)
        ]

    def _hybrid(
        self,
        conn: Connection,
        where: str,
        params: dict[str, Any],
        query: IndexQuery,
        slots: int,
    ) -> list[ScoredChunk]:
        short = self._short_walk_first(query)
        with _translate():
            rows = self._prepare(conn, params, short_walk=short)
            if rows == 0:
                return []
            found: Sequence[Any] = []
            walks = 0 if self._exact(rows, query) else 1 + short
            for walk in range(walks):
                if walk:  # the short walk came up short: walk on
                    self._prepare(conn, params)
                sql = q.hybrid_sql(where, exact=False, slots=slots)
                found = conn.exec_driver_sql(sql, params).all()
                dense_count = int(found[0][-1]) if found else 0
                if dense_count >= min(params["n"], rows):
                    break
            else:
                sql = q.hybrid_sql(where, exact=True, slots=slots)
                found = conn.exec_driver_sql(sql, params).all()
        return [
            ScoredChunk(
                cid,
                float(score),
                dense_rank=None if d_rank is None else int(d_rank),
                sparse_rank=None if s_rank is None else int(s_rank),
                similarity=None if dist is None else 1.0 - float(dist),
            )
            for cid, score, d_rank, s_rank, dist, _n in found
        ]


@contextmanager
def _translate() -> Iterator[None]:
    """Missing tables mean nobody ran ``ensure_ready``/``ragd reindex``: a configuration
    problem, said so. Connection failures are translated by ``Database``."""
    try:
        yield
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) == "42P01":  # undefined_table
            raise ConfigError(
                f"index tables are missing ({str(exc.orig).strip().splitlines()[0]}); start "
                "ragd normally or run `ragd reindex` to create them"
            ) from exc
        raise
