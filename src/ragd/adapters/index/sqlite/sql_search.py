"""Search through SQL: sqlite-vec's KNN for dense, FTS5's BM25 for keywords.

The path for tenants the in-memory index does not hold (over its budget, or rows it
cannot read back), and FTS5 for a query word that it parses as a phrase (``foo_bar``).
Every function runs on the caller's read connection and returns exact rankings, ties
broken by chunk id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ragd.adapters.index.checks import MAX_K
from ragd.domain.models import ScoredChunk, TenantId

POINT_READ_LIMIT = 1024
"""Up to this many chunks matching a filter, dense search reads their vectors by rowid and
ranks them in numpy: ~12 us a chunk, against ~25 ms for any vec0 scan of a 100k partition."""

EXACT_FILTER_LIMIT = 4096
"""Up to this many matching chunks, dense search hands their rowids to the vec0 KNN scan
(exact; vec0 skips the other vectors). Above it, an unfiltered KNN over-fetched by the
filter's estimated share and filtered afterwards is cheaper, and exact once k rows pass;
otherwise a KNN restricted by a subquery over index_chunks settles it (see ``dense``)."""

SELECTIVITY_SAMPLE = 8192
"""Chunks of the tenant looked at to estimate a wide filter's share before over-fetching."""

OVERFETCH_MARGIN = 1.5
"""Over-fetch = margin * k / estimated share: enough that k matches are almost always in."""

OVERFETCH_MAX_FACTOR = 4
"""Over-fetch at most k * this; a smaller filter share goes straight to a restricted scan."""


def dense(
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


def sparse(
    conn: Connection,
    tenant: TenantId,
    match: str,
    k: int,
    where: str,
    params: list[Any],
    *,
    title_weight: float,
) -> list[ScoredChunk]:
    """BM25 top-k for an FTS5 expression (``fts.fts_match_expression``).

    ``title_weight`` multiplies BM25 term weights found in a chunk's title column relative
    to its text column (FTS5 ``bm25()`` column weights).
    """
    rows = conn.exec_driver_sql(
        "SELECT c.chunk_id, bm25(fts_chunks, ?, 1.0) AS rank"
        " FROM fts_chunks JOIN index_chunks c ON c.rowid = fts_chunks.rowid"
        f" WHERE fts_chunks MATCH ? AND c.tenant_id = ?{where}"
        " ORDER BY rank, c.chunk_id LIMIT ?",
        (title_weight, match, tenant, *params, k),
    ).all()
    # FTS5's bm25() is "lower is better" (negated BM25); flip it so higher is better.
    return [
        ScoredChunk(chunk_id, -float(rank), sparse_rank=i)
        for i, (chunk_id, rank) in enumerate(rows, start=1)
    ]
