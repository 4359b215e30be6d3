"""SQL for the pgvector Index: schema, filters, and the dense/sparse/hybrid statements.

Kept apart from ``index.py`` (which decides *which* statement to run) so the statements
can be read, and EXPLAINed, in one place. Every statement uses psycopg's named
placeholders (``%(name)s``) and is run with ``exec_driver_sql``; user text only ever
travels as a parameter.

Ordering ties are broken by ``chunk_id COLLATE "C"`` (byte order = code point order) so
that Postgres ranks exactly like the Python reference (``rrf_fuse``, the contract suite's
oracle), whatever the database's default collation is.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from ragd.adapters.index.access import postgres_condition, stored_metadata
from ragd.domain.filters import SearchFilters
from ragd.domain.models import IndexEntry
from ragd.errors import InvalidRequest

TS_CONFIG = "english"
"""Text search configuration: Snowball English stemming (Porter2) and English stopwords,
the closest built-in match to FTS5's ``porter unicode61``."""

TITLE_WEIGHT_LABEL = "A"
TEXT_WEIGHT_LABEL = "D"

# --------------------------------------------------------------------------- schema


def schema_statements(dim: int, m: int, ef_construction: int, *, btree_gin: bool) -> list[str]:
    """DDL for the index tables; every statement is idempotent (``IF NOT EXISTS``)."""
    text_index = (
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tsv ON index_chunks USING gin (tenant_id, tsv)"
        if btree_gin
        else "CREATE INDEX IF NOT EXISTS ix_index_chunks_tsv ON index_chunks USING gin (tsv)"
    )
    return [
        "CREATE TABLE IF NOT EXISTS index_meta (key text PRIMARY KEY, value text NOT NULL)",
        "CREATE SEQUENCE IF NOT EXISTS index_version_seq",
        "CREATE TABLE IF NOT EXISTS index_tenants ("
        " tenant_id text PRIMARY KEY,"
        " version bigint NOT NULL,"
        " chunks bigint NOT NULL DEFAULT 0)",
        "CREATE TABLE IF NOT EXISTS index_chunks ("
        " chunk_id text PRIMARY KEY,"
        " tenant_id text NOT NULL,"
        " document_id text NOT NULL,"
        " source text NOT NULL,"
        " metadata jsonb NOT NULL,"
        f" embedding vector({int(dim)}) NOT NULL,"
        " tsv tsvector NOT NULL)"
        " WITH (toast_tuple_target = 8160)",
        "CREATE TABLE IF NOT EXISTS index_terms ("
        " tenant_id text NOT NULL,"
        " lexeme text NOT NULL,"
        " df integer NOT NULL,"
        " PRIMARY KEY (tenant_id, lexeme))",
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_document"
        " ON index_chunks (tenant_id, document_id)",
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_tenant_source"
        " ON index_chunks (tenant_id, source)",
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_metadata"
        " ON index_chunks USING gin (metadata jsonb_path_ops)",
        "CREATE INDEX IF NOT EXISTS ix_index_chunks_embedding ON index_chunks"
        f" USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {int(m)}, ef_construction = {int(ef_construction)})",
        text_index,
    ]


# Rows stay whole and uncompressed in the heap up to 8 kB (``toast_tuple_target``): by
# default TOAST compresses or moves out of line any value of a row over ~2 kB, and a chunk's
# vector plus its tsvector is 3-4 kB. Sparse ranking reads the tsvector once per query term
# and would decompress (or fetch from the TOAST table) every time: measured 180-260 ms vs
# ~70 ms per SciFact query. The vector never leaves the row (PLAIN); the tsvector may still
# be compressed (MAIN) for the rare row that would not fit a page otherwise.
COLUMN_STORAGE = (
    "ALTER TABLE index_chunks ALTER COLUMN embedding SET STORAGE PLAIN,"
    " ALTER COLUMN tsv SET STORAGE MAIN"
)

TENANT_TABLES = ("index_tenants", "index_chunks", "index_terms")
"""Tables holding tenants' rows, under row-level security (``ragd.adapters.sql.rls``)."""

SCHEMA_OBJECTS = (
    "index_meta",
    "index_version_seq",
    *TENANT_TABLES,
    "ix_index_chunks_tenant_document",
    "ix_index_chunks_tenant_source",
    "ix_index_chunks_metadata",
    "ix_index_chunks_embedding",
    "ix_index_chunks_tsv",
)
"""Every relation ``schema_statements`` creates: when all exist (and the tables' policies
are in place) ``ensure_ready`` runs no DDL at all."""

DROP_TABLES = ("index_chunks", "index_terms", "index_meta")
"""``rebuild`` drops these; ``index_tenants`` and the version sequence survive, so a
tenant's version keeps increasing across rebuilds and a cache never sees one reused."""

# ------------------------------------------------------------ per-tenant graphs
# One HNSW graph shared by every tenant serves a tenant holding a small share of it badly:
# a filtered walk has to pass ~1/share rows for each one it keeps (measured at 1M rows,
# 100 tenants: 100 nearest for a tenant of 1.2 % took 85 ms). A tenant above the exact
# threshold therefore gets a graph of its own, a partial index whose predicate names it;
# with custom plans (``PREPARE_SEARCH``) the planner picks it for that tenant's searches.

TENANT_GRAPH_PREFIX = "ix_index_chunks_embedding_t_"

TENANT_GRAPHS = f"""
SELECT c.relname AS name, i.indisvalid AS valid
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'index_chunks'::regclass AND c.relname LIKE '{TENANT_GRAPH_PREFIX}%%'
"""

BIG_TENANTS = """
SELECT tenant_id FROM index_tenants WHERE chunks > %(rows)s ORDER BY chunks DESC, tenant_id
"""

TENANT_GRAPH_DDL = """
SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %%I ON index_chunks'
              ' USING hnsw (embedding vector_cosine_ops)'
              ' WITH (m = %%s, ef_construction = %%s) WHERE tenant_id = %%L',
              %(name)s::text, %(m)s::int, %(ef_construction)s::int, %(tenant)s::text)
"""
"""The DDL, quoted by the server (``%I`` identifier, ``%L`` literal): a tenant id is
arbitrary text, and DDL takes no parameters."""


def tenant_graph_name(tenant: str) -> str:
    """A stable, valid identifier for ``tenant``'s graph (ids are arbitrary text)."""
    return TENANT_GRAPH_PREFIX + hashlib.sha256(tenant.encode()).hexdigest()[:24]


# --------------------------------------------------------------------------- writes
# Writes keep ``index_terms`` (each lexeme's document frequency in the tenant, for IDF) in
# step with ``index_chunks``, in the same statements. Every write first bumps, and so
# row-locks, the tenant's ``index_tenants`` row: writers of one tenant take turns there
# before touching any term row, so two transactions never lock term rows in opposite orders.

BUMP_VERSION = """
INSERT INTO index_tenants AS t (tenant_id, version, chunks)
VALUES (%(tenant)s, nextval('index_version_seq'), 0)
ON CONFLICT (tenant_id) DO UPDATE SET version = EXCLUDED.version
"""

ADD_CHUNKS = "UPDATE index_tenants SET chunks = chunks + %(delta)s WHERE tenant_id = %(tenant)s"

DELETE_DOCUMENT = """
WITH gone AS (
    DELETE FROM index_chunks WHERE tenant_id = %(tenant)s AND document_id = %(document_id)s
    RETURNING tsv),
freq AS (
    SELECT l AS lexeme, count(*) AS n FROM gone, unnest(tsvector_to_array(gone.tsv)) AS l
    GROUP BY l),
dec AS (
    UPDATE index_terms t SET df = t.df - freq.n FROM freq
    WHERE t.tenant_id = %(tenant)s AND t.lexeme = freq.lexeme RETURNING 1)
SELECT count(*) FROM gone
"""

INSERT_CHUNKS = f"""
WITH ins AS (
    INSERT INTO index_chunks
        (chunk_id, tenant_id, document_id, source, metadata, embedding, tsv)
    SELECT u.chunk_id, %(tenant)s, %(document_id)s, u.source, u.metadata::jsonb,
           u.embedding::vector,
           setweight(to_tsvector('{TS_CONFIG}', u.title), '{TITLE_WEIGHT_LABEL}')
           || setweight(to_tsvector('{TS_CONFIG}', u.body), '{TEXT_WEIGHT_LABEL}')
    FROM unnest(%(chunk_ids)s::text[], %(sources)s::text[], %(metadata)s::text[],
                %(embeddings)s::text[], %(titles)s::text[], %(bodies)s::text[])
         AS u(chunk_id, source, metadata, embedding, title, body)
    RETURNING tsv)
INSERT INTO index_terms AS t (tenant_id, lexeme, df)
SELECT %(tenant)s, l, count(*) FROM ins, unnest(tsvector_to_array(ins.tsv)) AS l
GROUP BY l ORDER BY l
ON CONFLICT (tenant_id, lexeme) DO UPDATE SET df = t.df + EXCLUDED.df
"""

# --------------------------------------------------------------------------- reads

PREPARE_SEARCH = """
SELECT set_config('hnsw.ef_search', %(ef_search)s, true),
       set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('hnsw.max_scan_tuples', %(max_scan_tuples)s, true),
       set_config('jit', 'off', true),
       set_config('plan_cache_mode', 'force_custom_plan', true),
       (SELECT chunks FROM index_tenants WHERE tenant_id = %(tenant)s)
"""
"""One round trip before a search: transaction-local HNSW settings (pgvector 0.8
iterative scans keep walking the graph until enough rows pass the tenant/filter
conditions, bounded by ``max_scan_tuples``), JIT off (compiling costs more than a search
takes), custom plans only, and the tenant's row count, which picks exact or approximate
dense search.

Custom plans: psycopg prepares a statement after five executions, and Postgres may then
switch to a generic plan, made without the tenant's and filter's values. Measured at 1M
rows over 100 tenants, a metadata-filtered dense search went from 10-25 ms to 135-410 ms
when that happened; planning anew costs ~1 ms."""


def dense_sql(where: str, *, exact: bool) -> str:
    """Top ``n`` by cosine distance: ``(chunk_id, distance)`` best first.

    Exact: distances of every row passing the conditions (a MATERIALIZED CTE, so the
    planner cannot answer the ORDER BY from the HNSW index). Approximate: an HNSW index
    scan with the conditions applied while it walks (iterative scan), re-sorted because
    ``relaxed_order`` may return neighbours slightly out of order.
    """
    if exact:
        return (
            "WITH cand AS MATERIALIZED ("
            " SELECT c.chunk_id, c.embedding <=> %(qvec)s::vector AS distance"
            f" FROM index_chunks c WHERE c.tenant_id = %(tenant)s{where})"
            ' SELECT chunk_id, distance FROM cand ORDER BY distance, chunk_id COLLATE "C"'
            " LIMIT %(n)s"
        )
    return (
        "WITH nn AS MATERIALIZED ("
        " SELECT c.chunk_id, c.embedding <=> %(qvec)s::vector AS distance"
        f" FROM index_chunks c WHERE c.tenant_id = %(tenant)s{where}"
        " ORDER BY c.embedding <=> %(qvec)s::vector LIMIT %(n)s)"
        ' SELECT chunk_id, distance FROM nn ORDER BY distance, chunk_id COLLATE "C"'
    )


# The query's distinct lexemes (its words through the text search configuration: stemmed,
# stopwords gone), each as a one-lexeme tsquery built by ``plainto_tsquery('simple', ...)``
# (which never raises on any input), with its document frequency in the tenant (df, from
# ``index_terms``) and BM25 IDF: ln(1 + (N - df + 0.5) / (df + 0.5)), N from
# ``index_tenants``.
#
# Which rows get scored: at most ``sparse_budget``. The lexemes are taken rarest first;
# those whose document frequencies add up to at most the budget are *essential* (``tq.q``):
# every row holding one of them is scored. The budget left over goes to the next lexeme
# (``fill``): that many of its rows (whichever the index yields first). More common
# lexemes are not looked up, though every scored row is scored on all of them. This is
# MaxScore's split into essential and non-essential terms, made by cost: the lexemes left
# out have the smallest IDF, so a row holding none of the rarer ones can rarely reach the
# top. When every lexeme fits (any tenant of up to ``sparse_budget`` rows, and most
# queries in bigger ones) the answer is exact; scoring is per row, so the budget bounds a
# text search's cost whatever the tenant's size.
_TERM_CTES = f"""
lex AS (
    SELECT l, min(w.i) AS first
    FROM unnest(%(words)s::text[]) WITH ORDINALITY AS w(word, i),
         unnest(tsvector_to_array(to_tsvector('{TS_CONFIG}', w.word))) AS l
    GROUP BY l ORDER BY first, l LIMIT %(slots)s),
terms AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY lex.first, lex.l) AS i,
           plainto_tsquery('simple', lex.l) AS q,
           coalesce(s.df, 0) AS df,
           ln(1 + (n.n - coalesce(s.df, 0) + 0.5) / (coalesce(s.df, 0) + 0.5)) AS idf
    FROM lex
    CROSS JOIN (SELECT greatest(coalesce(
        (SELECT chunks FROM index_tenants WHERE tenant_id = %(tenant)s), 0), 1)::float8 AS n) n
    LEFT JOIN index_terms s ON s.tenant_id = %(tenant)s AND s.lexeme = lex.l),
costed AS MATERIALIZED (
    SELECT i, q, idf, df, sum(df) OVER (ORDER BY df, i) AS upto
    FROM terms WHERE numnode(q) > 0),
tq AS (
    SELECT array_agg(q ORDER BY i) AS qs, array_agg(idf ORDER BY i) AS idf,
           string_agg(q::text, ' | ' ORDER BY i)
               FILTER (WHERE upto <= %(sparse_budget)s)::tsquery AS q
    FROM costed),
fill AS (
    SELECT q, %(sparse_budget)s - (upto - df) AS quota
    FROM costed WHERE upto > %(sparse_budget)s ORDER BY upto LIMIT 1)
"""


def score_sql(slots: int) -> str:
    """Σ over the query's lexemes of IDF × ``ts_rank`` of that lexeme alone.

    ``ts_rank`` of one lexeme is a saturating function of its frequency (1, 1.25, 1.36...
    times the label weight: title A, text D), divided by 1 + log(length) under
    normalisation 1; the sum is BM25's shape (IDF × saturating TF, length-damped) built
    from Postgres's own functions. One term per slot; slots past the query's lexemes are
    NULL and cost nothing.
    """
    return " + ".join(
        f"coalesce(tq.idf[{i}] * ts_rank(%(rank_weights)s::float4[], c.tsv, tq.qs[{i}],"
        f" %(rank_norm)s), 0)"
        for i in range(1, slots + 1)
    )


def _scored_rows(where: str, slots: int) -> str:
    """The scored rows (see ``_TERM_CTES``): every row holding an essential lexeme, and
    up to the rest of the budget of the next lexeme's rows (not already among them), each
    scored on every lexeme; best ``n`` first."""
    return (
        f"SELECT c.chunk_id, {score_sql(slots)} AS score"
        " FROM tq CROSS JOIN LATERAL ("
        " SELECT c.chunk_id, c.tsv FROM index_chunks c"
        f" WHERE c.tsv @@ tq.q AND c.tenant_id = %(tenant)s{where}"
        " UNION ALL"
        " SELECT f.chunk_id, f.tsv FROM fill CROSS JOIN LATERAL ("
        " SELECT c.chunk_id, c.tsv FROM index_chunks c"
        f" WHERE c.tsv @@ fill.q AND c.tenant_id = %(tenant)s{where}"
        " AND (tq.q IS NULL OR NOT c.tsv @@ tq.q)"
        " LIMIT fill.quota) f) c"
        ' ORDER BY score DESC, c.chunk_id COLLATE "C" LIMIT %(n)s'
    )


def sparse_sql(where: str, slots: int) -> str:
    """Top ``n`` by the text score: ``(chunk_id, score)`` best first."""
    return f"WITH {_TERM_CTES} {_scored_rows(where, slots)}"


def hybrid_sql(where: str, *, exact: bool, slots: int) -> str:
    """Both sides and their weighted reciprocal-rank fusion in one statement.

    Returns ``(chunk_id, score, dense_rank, sparse_rank, distance, dense_count)`` best
    first; ``score`` is computed exactly as ``rrf_fuse`` does (weight / (k + rank), dense
    term first), so the fused list equals fusing the two single-mode answers in Python.
    ``dense_count`` tells the caller whether an approximate dense side came up short.
    """
    if exact:
        dense = (
            "cand AS MATERIALIZED ("
            " SELECT c.chunk_id, c.embedding <=> %(qvec)s::vector AS distance"
            f" FROM index_chunks c WHERE c.tenant_id = %(tenant)s{where}),"
            " dense AS MATERIALIZED ("
            ' SELECT chunk_id, distance FROM cand ORDER BY distance, chunk_id COLLATE "C"'
            " LIMIT %(n)s)"
        )
    else:
        dense = (
            "dense AS MATERIALIZED ("
            " SELECT c.chunk_id, c.embedding <=> %(qvec)s::vector AS distance"
            f" FROM index_chunks c WHERE c.tenant_id = %(tenant)s{where}"
            " ORDER BY c.embedding <=> %(qvec)s::vector LIMIT %(n)s)"
        )
    return f"""
WITH {dense},
{_TERM_CTES},
sparse AS MATERIALIZED ({_scored_rows(where, slots)}),
d AS (
    SELECT chunk_id, distance,
           row_number() OVER (ORDER BY distance, chunk_id COLLATE "C") AS r
    FROM dense),
s AS (
    SELECT chunk_id, row_number() OVER (ORDER BY score DESC, chunk_id COLLATE "C") AS r
    FROM sparse),
fused AS (
    SELECT coalesce(d.chunk_id, s.chunk_id) AS chunk_id,
           coalesce(%(dense_weight)s::float8 / (%(rrf_k)s::int8 + d.r), 0::float8)
           + coalesce(%(sparse_weight)s::float8 / (%(rrf_k)s::int8 + s.r), 0::float8) AS score,
           d.r AS dense_rank, s.r AS sparse_rank, d.distance
    FROM d FULL OUTER JOIN s ON s.chunk_id = d.chunk_id)
SELECT chunk_id, score, dense_rank, sparse_rank, distance,
       (SELECT count(*) FROM dense) AS dense_count
FROM fused
ORDER BY score DESC, chunk_id COLLATE "C"
LIMIT %(k)s
"""


# --------------------------------------------------------------------------- values


def filter_sql(filters: SearchFilters, params: dict[str, Any]) -> str:
    """`` AND ...`` conditions on ``index_chunks c``; their values are added to ``params``.

    Metadata equality is JSONB containment (``@>``), which compares JSON types the way
    JSON does: ``true`` is not ``1``, ``"1"`` is not ``1``, ``1`` equals ``1.0``, and it
    can use the ``jsonb_path_ops`` GIN index. ``None`` matches a missing key or ``null``.
    """
    parts: list[str] = []
    if filters.document_ids:
        params["f_document_ids"] = list(filters.document_ids)
        parts.append("c.document_id = ANY(%(f_document_ids)s::text[])")
    if filters.sources:
        params["f_sources"] = list(filters.sources)
        parts.append("c.source = ANY(%(f_sources)s::text[])")
    for i, (key, value) in enumerate(filters.metadata.items()):
        if not isinstance(key, str) or not key:
            raise InvalidRequest(f"metadata filter key {key!r} is not allowed")
        name = f"f_meta_{i}"
        if value is None:
            params[name] = key
            parts.append(f"coalesce(c.metadata -> %({name})s, 'null'::jsonb) = 'null'::jsonb")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"metadata filter {key!r} must be a finite number")
        if not isinstance(value, str | int | float | bool):
            raise InvalidRequest(
                f"metadata filter {key!r} must compare with a string, number or boolean"
            )
        params[name] = json.dumps({key: value}, ensure_ascii=False)
        parts.append(f"c.metadata @> %({name})s::jsonb")
    if filters.access is not None:
        parts.append(postgres_condition(filters.access, params))
    return "".join(f" AND {p}" for p in parts)


def vector_literal(arr: np.ndarray) -> str:
    """pgvector's text form. ``repr`` of each float32 (widened exactly to a double) reads
    back through ``strtof`` as the very same float32."""
    return "[" + ",".join(map(repr, arr.tolist())) + "]"


def fold(text: str) -> str:
    """Text as the full-text index sees it: diacritics removed (FTS5's
    ``remove_diacritics``; Postgres has no built-in equivalent without the ``unaccent``
    extension) and NUL characters, which Postgres text cannot hold, blanked."""
    if text.isascii():
        return text.replace("\x00", " ") if "\x00" in text else text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("\x00", " ")


def insert_columns(
    entries: Sequence[IndexEntry], vectors: Sequence[np.ndarray]
) -> dict[str, list[str]]:
    """The unnest arrays of ``INSERT_CHUNKS`` for these entries."""
    return {
        "chunk_ids": [e.chunk_id for e in entries],
        "sources": [e.source for e in entries],
        "metadata": [
            json.dumps(stored_metadata(e), ensure_ascii=False, default=str) for e in entries
        ],
        "embeddings": [vector_literal(v) for v in vectors],
        "titles": [fold(e.title or "") for e in entries],
        "bodies": [fold(e.text or "") for e in entries],
    }
