"""Bringing a tenant's snapshot up to date from the change log, instead of reloading it.

Every rowid logged since the snapshot's version is dropped from it and, if still the
tenant's, read again into a new position; deleted positions and small postings segments
pile up until compaction or a merge tidies them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sqlalchemy import Connection

from ragd.adapters.index.sqlite import versions
from ragd.adapters.index.sqlite.memory import vectors as vector_io
from ragd.adapters.index.sqlite.memory.load import fill, read_rows, read_terms, resized
from ragd.adapters.index.sqlite.memory.postings import Segment, build_segment, merge_segments
from ragd.adapters.index.sqlite.memory.snapshot import Snapshot
from ragd.adapters.index.sqlite.versions import Stamp
from ragd.domain.models import TenantId

MAX_SEGMENTS = 8
"""Postings segments a tenant may collect from patches before they are merged."""

COMPACT_DEAD_SHARE = 0.25
"""Deleted positions (of all) that trigger compaction of the arrays and postings."""

RELOAD_CHANGED_SHARE = 0.5
"""A patch touching more rows than this share of the tenant reloads it instead."""

_GROWTH = 1.25


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
    rows = read_rows(conn, tenant, changed)
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
        arrays = {name: resized(a[: snap.n], cap) for name, a in arrays.items()}
        vectors = np.zeros((snap.vectors.shape[0], cap), dtype=np.float32)
        vectors[:, : snap.n] = snap.vectors[:, : snap.n]
    if not vector_io.read_by_rowid(conn, rows.rowids.tolist(), vectors.T[snap.n : n]):
        return None
    arrays["rowids"][snap.n : n] = rows.rowids
    sparse_ok = snap.sparse_ok
    segments = snap.segments
    added_tokens = 0.0
    if sparse_ok and added:
        terms = read_terms(conn, tenant, rows.rowids, whole_tenant=False)
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
        rowids=arrays["rowids"],
        norms=arrays["norms"],
        lengths=arrays["lengths"],
        doc_code=arrays["doc_code"],
        source_code=arrays["source_code"],
        meta_code=arrays["meta_code"],
    )
    fill(new, snap.n, rows)
    position_of.update((int(r), snap.n + i) for i, r in enumerate(rows.rowids.tolist()))
    if n - new.n_alive > max(1024, COMPACT_DEAD_SHARE * n):
        return _compact(new)
    if len(new.segments) > MAX_SEGMENTS:
        return _merge_tail(new)
    return new


def _merge_tail(snap: Snapshot) -> Snapshot:
    """Fewer segments: the small ones merged, or all once they rival the first."""
    first, *tail = snap.segments
    segments: tuple[Segment, ...]
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
