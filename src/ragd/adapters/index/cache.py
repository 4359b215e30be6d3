"""Per-tenant in-memory search state for SqliteIndex, coherent with the database.

Why: at 100k chunks sqlite-vec's brute-force KNN (no SIMD in this build) takes ~60 ms and
FTS5 scores every row matching any OR-ed term (~150-250 ms). In memory, dense search is
one BLAS matrix-vector product (~8-15 ms) and keyword search touches only the query
terms' postings (~4-8 ms); both are exact (bench/README.md has the figures).

What a tenant costs, at 100k chunks of SciFact-like text with 384-d vectors: 286 MiB by
``Snapshot.nbytes``, 320 MiB of process memory measured (~3.2 KiB a chunk): its vectors
as float32 (1.5 KiB a chunk), 8 bytes per posting (~125 distinct terms a chunk), ~40
bytes of per-chunk arrays, ~200 bytes of Python objects, 1/8 spare capacity for growth.
Loading it (the tenant's first search in a process) takes ~4 s at 100k chunks and
briefly needs about twice that memory. ``IndexCache`` keeps the most recently searched
tenants within ``max_bytes`` and leaves a tenant that alone exceeds it to the SQL paths.

Coherence comes from the database (``versions.py``), never from in-process signals, since
other processes write to the same file: each search reads the tenant's stamp (epoch,
version) in its read transaction; a stale snapshot is patched from the change log, or
reloaded, inside that same transaction before it is used. Snapshots are immutable once
published: a patch builds a new one (sharing append-only arrays), so a search running on
the previous one is never disturbed.

BM25 statistics (row count, document frequencies, average length) are the tenant's live
rows. FTS5's are the whole table's and never shrink: a contentless FTS5 table keeps
counting deleted rows in its totals. On an index that only grew, with one tenant, the
scores are FTS5's to the last bit; after deletions or beside other tenants they differ
(and are the correct BM25 of what the tenant can find).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ragd.adapters.index import vectors as vector_io
from ragd.adapters.index import versions
from ragd.adapters.index.postings import (
    POSTING_BYTES,
    TERM_RECORD,
    Segment,
    bm25,
    build_segment,
    length_norms,
    merge_segments,
)
from ragd.adapters.index.versions import Stamp
from ragd.domain.filters import SearchFilters
from ragd.domain.models import JsonScalar, ScoredChunk, TenantId

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
"""Default memory for cached tenants per process (~400k chunks of 384-d vectors)."""

EST_POSTINGS_PER_CHUNK = 128
"""Used to decide, before loading, whether a tenant fits: ~100 terms a 250-word chunk."""

MAX_SEGMENTS = 8
"""Postings segments a tenant may collect from patches before they are merged."""

COMPACT_DEAD_SHARE = 0.25
"""Deleted positions (of all) that trigger compaction of the arrays and postings."""

RELOAD_CHANGED_SHARE = 0.5
"""A patch touching more rows than this share of the tenant reloads it instead."""

GATHER_SHARE = 0.02
"""Dense search ranks only the filter's rows when they are below this share of the tenant
(gathering scattered columns costs more per vector than the full gemv's sequential read)."""

RESCORE_MARGIN = 16
"""Float32 candidates beyond k rescored in float64, so near-ties order exactly."""

_GROWTH = 1.25
_NORM_BLOCK = 8192


class CodeTable:
    """Append-only map of a string to a small int code (and its decoded value).

    Shared by a tenant's successive snapshots: codes are only ever added, and a snapshot
    only looks at the codes of its own positions.
    """

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.values: list[Any] = []

    def codes_of(self, keys: list[str], decode: Callable[[str], Any] | None = None) -> np.ndarray:
        """Codes of ``keys`` (int32), adding new keys (their value: ``decode(key)``)."""
        codes = self.codes
        for key in dict.fromkeys(keys):
            if key not in codes:
                self.values.append(key if decode is None else decode(key))
                codes[key] = len(self.values) - 1  # only once its value is there
        return np.fromiter(map(codes.__getitem__, keys), dtype=np.int32, count=len(keys))

    def table(self, keys: tuple[str, ...]) -> np.ndarray:
        """Boolean lookup table: True at the codes of ``keys`` (codes added meanwhile by a
        patch are left out: no position of an already published snapshot has them)."""
        out = np.zeros(len(self.values), dtype=bool)
        hits = [c for k in keys if (c := self.codes.get(k)) is not None and c < len(out)]
        out[hits] = True
        return out


@dataclass(frozen=True)
class Snapshot:
    """A tenant's rows as of ``stamp``: positions 0..n-1, deleted ones masked by ``alive``.

    Arrays with a capacity beyond ``n`` are shared with later snapshots, which append to
    them; this snapshot reads only its first ``n`` entries. ``alive`` and ``segments``
    are its own.
    """

    stamp: Stamp
    n: int
    alive: np.ndarray  # bool [n]
    n_alive: int
    total_tokens: float
    rowids: np.ndarray  # int64 [cap]
    chunk_ids: list[str]  # [>= n]
    vectors: np.ndarray
    """float32 [dim, cap], as stored, one column a position: ``q @ vectors`` (a BLAS
    gemv over the transposed layout) measured ~25% faster than ``rows @ q`` here."""
    norms: np.ndarray  # float64 [cap]
    lengths: np.ndarray  # float64 [cap], tokens (FTS5 document length)
    doc_code: np.ndarray  # int32 [cap]
    source_code: np.ndarray  # int32 [cap]
    meta_code: np.ndarray  # int32 [cap]
    docs: CodeTable
    sources: CodeTable
    metas: CodeTable
    segments: tuple[Segment, ...]
    sparse_ok: bool
    """False when some row has no stored terms (an index older than ``index_terms``)."""
    position_of: dict[int, int]
    """rowid -> live position; used only by the patcher, under the tenant's lock."""
    meta_memo: dict[tuple[str, str, Any], np.ndarray] = field(default_factory=dict)
    _derived: dict[str, np.ndarray] = field(default_factory=dict)

    def length_norms(self) -> np.ndarray:
        """BM25 length normalisation per position, computed on first use."""
        norms = self._derived.get("length_norms")
        if norms is None:
            norms = length_norms(self.lengths[: self.n], self.n_alive, self.total_tokens)
            self._derived["length_norms"] = norms
        return norms

    @property
    def capacity(self) -> int:
        return len(self.rowids)

    @property
    def nbytes(self) -> int:
        arrays = (
            self.alive,
            self.rowids,
            self.vectors,
            self.norms,
            self.lengths,
            self.doc_code,
            self.source_code,
            self.meta_code,
        )
        objects = 200 * self.capacity  # chunk id strings, list and dict slots
        return sum(a.nbytes for a in arrays) + sum(s.nbytes for s in self.segments) + objects


def estimate_bytes(chunks: int, dim: int) -> int:
    """Expected ``Snapshot.nbytes`` of a tenant with ``chunks`` chunks, before loading it."""
    return chunks * (4 * dim + POSTING_BYTES * EST_POSTINGS_PER_CHUNK + 250)


# ---------------------------------------------------------------------- loading


@dataclass
class Records:
    """Term records of some rows as parallel arrays (``owners``: their positions)."""

    terms: np.ndarray
    owners: np.ndarray
    tf_text: np.ndarray
    tf_title: np.ndarray

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The arrays, handed over: this object lets go of them (memory freed sooner)."""
        out = (self.terms, self.owners, self.tf_text, self.tf_title)
        empty = np.zeros(0, dtype=np.int32)
        self.terms = self.owners = self.tf_text = self.tf_title = empty
        return out


@dataclass
class _Rows:
    """Rows of index_chunks/index_terms read for a load or patch, in rowid order."""

    rowids: np.ndarray
    chunk_ids: list[str]
    documents: list[str]
    sources: list[str]
    metadata: list[str]


def _read_rows(conn: Connection, tenant: TenantId, only: list[int] | None) -> _Rows:
    if only is None:
        rows = conn.exec_driver_sql(
            "SELECT rowid, chunk_id, document_id, source, metadata FROM index_chunks"
            " WHERE tenant_id = ? ORDER BY rowid",
            (tenant,),
        ).all()
    else:
        rows = conn.exec_driver_sql(
            "SELECT c.rowid, c.chunk_id, c.document_id, c.source, c.metadata"
            " FROM json_each(?) j CROSS JOIN index_chunks c ON c.rowid = j.value"
            " WHERE c.tenant_id = ? ORDER BY c.rowid",
            (json.dumps(only), tenant),
        ).all()
    return _Rows(
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )


def _read_terms(
    conn: Connection, tenant: TenantId, rowids: np.ndarray, whole_tenant: bool
) -> tuple[Records, np.ndarray] | None:
    """The rows' term records and token counts; None if any row lacks stored terms.

    Blobs are appended to one buffer as they are fetched, so loading 100k chunks holds
    ~100 MB of them once rather than as rows and then as their concatenation.
    """
    if whole_tenant:
        result = conn.exec_driver_sql(
            "SELECT c.rowid, t.length, t.data FROM index_chunks c"
            " JOIN index_terms t ON t.rowid = c.rowid WHERE c.tenant_id = ? ORDER BY c.rowid",
            (tenant,),
        )
    else:
        result = conn.exec_driver_sql(
            "SELECT t.rowid, t.length, t.data FROM json_each(?) j"
            " CROSS JOIN index_terms t ON t.rowid = j.value ORDER BY t.rowid",
            (json.dumps(rowids.tolist()),),
        )
    got: list[int] = []
    lengths: list[int] = []
    counts: list[int] = []
    buffer = bytearray()
    for rowid, length, data in result:
        got.append(rowid)
        lengths.append(length)
        counts.append(len(data) // TERM_RECORD.itemsize)
        buffer += data
    if len(got) != len(rowids) or not np.array_equal(np.asarray(got, dtype=np.int64), rowids):
        return None
    records = np.frombuffer(buffer, dtype=TERM_RECORD)
    owners = np.repeat(np.arange(len(got), dtype=np.int32), np.asarray(counts, dtype=np.int64))
    split = Records(
        terms=records["term"].copy(),
        owners=owners,
        tf_text=records["text"].copy(),
        tf_title=records["title"].copy(),
    )
    return split, np.asarray(lengths, dtype=np.float64)


def load(conn: Connection, tenant: TenantId, stamp: Stamp, dim: int) -> Snapshot | None:
    """The tenant's whole snapshot, read in the caller's (read) transaction."""
    rows = _read_rows(conn, tenant, None)
    n = len(rows.rowids)
    cap = n + max(1024, n // 8)
    vectors = np.zeros((dim, cap), dtype=np.float32)
    if not vector_io.read_tenant(conn, tenant, rows.rowids, vectors.T):
        log.warning("tenant %s: index rows without vectors; searching through SQL", tenant)
        return None
    terms = _read_terms(conn, tenant, rows.rowids, whole_tenant=True)
    lengths = np.zeros(cap, dtype=np.float64)
    segments: tuple[Segment, ...] = ()
    sparse_ok = terms is not None
    if terms is not None:
        records, row_lengths = terms
        del terms
        lengths[:n] = row_lengths
        segments = (build_segment(*records.take()),)
    docs, sources, metas = CodeTable(), CodeTable(), CodeTable()
    snap = Snapshot(
        stamp=stamp,
        n=n,
        alive=np.ones(n, dtype=bool),
        n_alive=n,
        total_tokens=float(lengths[:n].sum()),
        rowids=_resized(rows.rowids, cap),
        chunk_ids=list(rows.chunk_ids),
        vectors=vectors,
        norms=np.zeros(cap, dtype=np.float64),
        lengths=lengths,
        doc_code=np.zeros(cap, dtype=np.int32),
        source_code=np.zeros(cap, dtype=np.int32),
        meta_code=np.zeros(cap, dtype=np.int32),
        docs=docs,
        sources=sources,
        metas=metas,
        segments=segments,
        sparse_ok=sparse_ok,
        position_of={int(r): i for i, r in enumerate(rows.rowids.tolist())},
    )
    _fill(snap, 0, rows)
    return snap


def _fill(snap: Snapshot, start: int, rows: _Rows) -> None:
    """Per-position norms and filter codes for rows placed at ``start``..."""
    end = start + len(rows.rowids)
    for a in range(start, end, _NORM_BLOCK):  # float64 norms, without a float64 copy of all
        b = min(a + _NORM_BLOCK, end)
        block = snap.vectors[:, a:b].astype(np.float64)
        snap.norms[a:b] = np.sqrt(np.einsum("ij,ij->j", block, block))
    snap.doc_code[start:end] = snap.docs.codes_of(rows.documents)
    snap.source_code[start:end] = snap.sources.codes_of(rows.sources)
    snap.meta_code[start:end] = snap.metas.codes_of(rows.metadata, _parse_metadata)


def _parse_metadata(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _resized(array: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
    n = min(len(array), cap)
    out[:n] = array[:n]
    return out


def patch(conn: Connection, tenant: TenantId, snap: Snapshot, stamp: Stamp) -> Snapshot | None:
    """``snap`` brought to ``stamp`` from the change log, or None: reload the tenant.

    Every logged rowid is dropped from the snapshot and, if it is still the tenant's in
    the database, read again into a new position: an upsert that reused a rowid, a
    replaced document and a deleted one are all handled alike. On None or an exception
    ``snap`` must be discarded (its rowid map may be half updated).
    """
    changed = sorted(versions.changed_rowids(conn, tenant, snap.stamp.version))
    if len(changed) > max(256, RELOAD_CHANGED_SHARE * snap.n_alive):
        return None
    position_of = snap.position_of
    removed = [position_of.pop(r) for r in changed if r in position_of]
    rows = _read_rows(conn, tenant, changed)
    added = len(rows.rowids)
    n = snap.n + added
    cap = snap.capacity
    vectors = snap.vectors
    arrays = {
        "rowids": snap.rowids,
        "norms": snap.norms,
        "lengths": snap.lengths,
        "doc_code": snap.doc_code,
        "source_code": snap.source_code,
        "meta_code": snap.meta_code,
    }
    if n > cap:
        cap = max(n, int(cap * _GROWTH)) + 1024
        arrays = {name: _resized(a[: snap.n], cap) for name, a in arrays.items()}
        vectors = np.zeros((snap.vectors.shape[0], cap), dtype=np.float32)
        vectors[:, : snap.n] = snap.vectors[:, : snap.n]
    if not vector_io.read_by_rowid(conn, rows.rowids.tolist(), vectors.T[snap.n : n]):
        return None
    arrays["rowids"][snap.n : n] = rows.rowids
    sparse_ok = snap.sparse_ok
    segments = snap.segments
    added_tokens = 0.0
    if sparse_ok and added:
        terms = _read_terms(conn, tenant, rows.rowids, whole_tenant=False)
        if terms is None:
            sparse_ok, segments = False, ()
        else:
            records, row_lengths = terms
            arrays["lengths"][snap.n : n] = row_lengths
            added_tokens = float(row_lengths.sum())
            records.owners += snap.n
            segments = (*segments, build_segment(*records.take()))
    alive = np.ones(n, dtype=bool)
    alive[: snap.n] = snap.alive
    alive[removed] = False
    removed_tokens = float(snap.lengths[removed].sum()) if removed else 0.0
    chunk_ids = snap.chunk_ids
    del chunk_ids[snap.n :]  # leftovers of a patch that failed half-way
    chunk_ids.extend(rows.chunk_ids)
    new = Snapshot(
        stamp=stamp,
        n=n,
        alive=alive,
        n_alive=snap.n_alive - len(removed) + added,
        total_tokens=snap.total_tokens - removed_tokens + added_tokens,
        chunk_ids=chunk_ids,
        docs=snap.docs,
        sources=snap.sources,
        metas=snap.metas,
        segments=segments,
        sparse_ok=sparse_ok,
        position_of=position_of,
        meta_memo=snap.meta_memo,
        vectors=vectors,
        **arrays,
    )
    _fill(new, snap.n, rows)
    position_of.update((int(r), snap.n + i) for i, r in enumerate(rows.rowids.tolist()))
    if n - new.n_alive > max(1024, COMPACT_DEAD_SHARE * n):
        return _compact(new)
    if len(new.segments) > MAX_SEGMENTS:
        return _merge_tail(new)
    return new


def _merge_tail(snap: Snapshot) -> Snapshot:
    """Fewer segments: the small ones merged, or all once they rival the first."""
    first, *tail = snap.segments
    if sum(len(s) for s in tail) * 2 < len(first):
        segments = (first, merge_segments(tail))
    else:
        segments = (merge_segments(snap.segments),)
    return replace(snap, segments=segments, _derived={})


def _compact(snap: Snapshot) -> Snapshot:
    """A snapshot without deleted positions: arrays gathered, postings renumbered."""
    keep = np.flatnonzero(snap.alive)
    size = len(keep)
    cap = size + max(1024, size // 8)
    remap = np.full(snap.n, -1, dtype=np.int64)
    remap[keep] = np.arange(size)

    def gather(array: np.ndarray) -> np.ndarray:
        out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
        out[:size] = array[keep]
        return out

    vectors = np.zeros((snap.vectors.shape[0], cap), dtype=np.float32)
    vectors[:, :size] = snap.vectors[:, keep]

    rowids = gather(snap.rowids)
    return Snapshot(
        stamp=snap.stamp,
        n=size,
        alive=np.ones(size, dtype=bool),
        n_alive=size,
        total_tokens=float(snap.lengths[keep].sum()),
        rowids=rowids,
        chunk_ids=[snap.chunk_ids[i] for i in keep.tolist()],
        vectors=vectors,
        norms=gather(snap.norms),
        lengths=gather(snap.lengths),
        doc_code=gather(snap.doc_code),
        source_code=gather(snap.source_code),
        meta_code=gather(snap.meta_code),
        docs=snap.docs,
        sources=snap.sources,
        metas=snap.metas,
        segments=(merge_segments(snap.segments, remap),) if snap.segments else (),
        sparse_ok=snap.sparse_ok,
        position_of={int(r): i for i, r in enumerate(rowids[:size].tolist())},
        meta_memo=snap.meta_memo,
    )


# ---------------------------------------------------------------------- searching


def filter_mask(snap: Snapshot, filters: SearchFilters) -> np.ndarray | None:
    """Live positions passing ``filters`` (bool [n]); None when there is no filter.

    Same semantics as the SQL conditions of ``sqlite._filter_sql`` (which has already
    validated the filters): ids and sources by equality, metadata equality by JSON type.
    """
    if filters.empty:
        return None
    mask = snap.alive.copy()
    n = snap.n
    if filters.document_ids:
        mask &= snap.docs.table(filters.document_ids)[snap.doc_code[:n]]
    if filters.sources:
        mask &= snap.sources.table(filters.sources)[snap.source_code[:n]]
    for key, value in filters.metadata.items():
        mask &= _meta_table(snap, key, value)[snap.meta_code[:n]]
    return mask


def _meta_table(snap: Snapshot, key: str, value: JsonScalar) -> np.ndarray:
    """Per metadata code: does it match ``key = value``? Memoised, extended for new codes."""
    tag = "bool" if isinstance(value, bool) else "num" if isinstance(value, int | float) else ""
    memo_key = (key, tag, value)
    values = snap.metas.values
    count = len(values)  # a patch may append codes meanwhile; they are not this snapshot's
    known = snap.meta_memo.get(memo_key)
    done = 0 if known is None else len(known)
    if known is not None and done >= count:
        return known
    table = np.zeros(count, dtype=bool)
    if known is not None:
        table[:done] = known
    table[done:] = [_meta_matches(m, key, value) for m in values[done:count]]
    snap.meta_memo[memo_key] = table
    return table


def _meta_matches(meta: dict[str, Any], key: str, value: JsonScalar) -> bool:
    """SQL's JSON-typed equality (see ``sqlite._metadata_condition``) in Python."""
    got = meta.get(key)
    if value is None:
        return got is None
    if isinstance(value, bool):
        return isinstance(got, bool) and got is value
    if isinstance(value, int | float):
        return isinstance(got, int | float) and not isinstance(got, bool) and got == value
    return isinstance(got, str) and got == value


def dense_search(
    snap: Snapshot, vector: np.ndarray, k: int, mask: np.ndarray | None
) -> list[ScoredChunk]:
    """Exact cosine top-k over live (and filter-passing) positions."""
    n = snap.n
    q64 = np.asarray(vector, dtype=np.float64)
    q64 = q64 / np.linalg.norm(q64)
    q32 = q64.astype(np.float32)
    valid = mask if mask is not None else (snap.alive if snap.n_alive < n else None)
    count = snap.n_alive if valid is None else int(np.count_nonzero(valid))
    if count == 0 or k < 1:
        return []
    if valid is not None and count <= GATHER_SHARE * n:
        candidates = np.flatnonzero(valid)
        scores = q32 @ snap.vectors[:, candidates]
        scores /= snap.norms[candidates]
    else:
        candidates = None
        scores = q32 @ snap.vectors[:, :n]
        scores /= snap.norms[:n]
        if valid is not None:
            scores[~valid] = -np.inf
    m = min(k + RESCORE_MARGIN, count)
    top = np.argpartition(-scores, m - 1)[:m] if m < len(scores) else np.arange(len(scores))
    positions = top if candidates is None else candidates[top]
    exact = (q64 @ snap.vectors[:, positions].astype(np.float64)) / snap.norms[positions]
    ranked = sorted(
        zip(exact.tolist(), positions.tolist(), strict=True),
        key=lambda sp: (-sp[0], snap.chunk_ids[sp[1]]),
    )[:k]
    return [
        ScoredChunk(snap.chunk_ids[p], score, dense_rank=i)
        for i, (score, p) in enumerate(ranked, start=1)
    ]


def sparse_search(
    snap: Snapshot,
    phrases: list[int | None],
    k: int,
    mask: np.ndarray | None,
    *,
    title_weight: float,
) -> list[ScoredChunk]:
    """BM25 top-k (FTS5's formula) over live, filter-passing positions; best first."""
    positions, scores = bm25(
        snap.segments,
        phrases,
        alive=snap.alive if snap.n_alive < snap.n else None,
        norms=snap.length_norms(),
        n_rows=snap.n_alive,
        title_weight=title_weight,
    )
    if mask is not None and len(positions):
        keep = mask[positions]
        positions, scores = positions[keep], scores[keep]
    if len(positions) > k:
        # Everything tied with the k-th score stays in, so chunk-id tie-breaks are exact.
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        positions, scores = positions[keep], scores[keep]
    ranked = sorted(
        zip(scores.tolist(), positions.tolist(), strict=True),
        key=lambda sp: (-sp[0], snap.chunk_ids[sp[1]]),
    )[:k]
    return [
        ScoredChunk(snap.chunk_ids[p], score, sparse_rank=i)
        for i, (score, p) in enumerate(ranked, start=1)
    ]


# ---------------------------------------------------------------------- the cache


class IndexCache:
    """Snapshots of the most recently searched tenants, within ``max_bytes``.

    ``snapshot`` returns the tenant's snapshot current as of the caller's read
    transaction, loading or patching it there, or None when the tenant is too large for
    the budget or its rows cannot be read back (then the caller searches through SQL).
    """

    def __init__(self, dim: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.dim = dim
        self.max_bytes = max_bytes
        self._snapshots: OrderedDict[TenantId, Snapshot] = OrderedDict()
        self._skip: dict[TenantId, Stamp] = {}
        self._lock = threading.Lock()
        self._tenant_locks: dict[TenantId, threading.Lock] = {}

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s.nbytes for s in self._snapshots.values())

    def clear(self) -> None:
        with self._lock:
            self._snapshots.clear()
            self._skip.clear()

    def snapshot(self, conn: Connection, tenant: TenantId) -> Snapshot | None:
        if self.max_bytes <= 0:
            return None
        stamp = versions.stamp(conn, tenant)
        current = self._current(tenant, stamp)
        if current is not None:
            return current
        with self._tenant_lock(tenant):
            current = self._current(tenant, stamp)
            if current is not None:
                return current
            with self._lock:
                if self._skip.get(tenant) == stamp:
                    return None
                old = self._snapshots.pop(tenant, None)
            fresh = None
            patchable = old is not None and old.stamp.epoch == stamp.epoch
            if old is not None and patchable and old.stamp.version >= stamp.log_floor:
                fresh = patch(conn, tenant, old, stamp)
            if fresh is None:
                chunks = int(
                    conn.exec_driver_sql(
                        "SELECT count(*) FROM index_chunks WHERE tenant_id = ?", (tenant,)
                    ).scalar_one()
                )
                if estimate_bytes(chunks, self.dim) > self.max_bytes:
                    fresh = None
                else:
                    fresh = load(conn, tenant, stamp, self.dim)
            if fresh is None:
                with self._lock:
                    self._skip[tenant] = stamp
                return None
            self._store(tenant, fresh)
            return fresh

    def _current(self, tenant: TenantId, stamp: Stamp) -> Snapshot | None:
        with self._lock:
            snap = self._snapshots.get(tenant)
            if snap is None or snap.stamp.epoch != stamp.epoch:
                return None
            if snap.stamp.version < stamp.version:
                return None
            self._snapshots.move_to_end(tenant)
            return snap

    def _store(self, tenant: TenantId, snap: Snapshot) -> None:
        with self._lock:
            self._skip.pop(tenant, None)
            self._snapshots[tenant] = snap
            self._snapshots.move_to_end(tenant)
            total = sum(s.nbytes for s in self._snapshots.values())
            while total > self.max_bytes and len(self._snapshots) > 1:
                evicted, dropped = self._snapshots.popitem(last=False)
                total -= dropped.nbytes
                log.info("index cache: evicted tenant %s (%d bytes)", evicted, dropped.nbytes)

    def _tenant_lock(self, tenant: TenantId) -> threading.Lock:
        with self._lock:
            lock = self._tenant_locks.get(tenant)
            if lock is None:
                lock = self._tenant_locks[tenant] = threading.Lock()
            return lock
