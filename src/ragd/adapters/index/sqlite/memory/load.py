"""Reading a tenant's rows out of the index tables into a new snapshot.

Loading is the tenant's first search in a process (~4 s at 100k chunks, briefly about
twice the snapshot's memory); ``patch.py`` reuses the row and term readers for the rows a
change log names.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from ragd.adapters.index.sqlite.memory import vectors as vector_io
from ragd.adapters.index.sqlite.memory.postings import TERM_RECORD, Segment, build_segment
from ragd.adapters.index.sqlite.memory.snapshot import CodeTable, Snapshot
from ragd.adapters.index.sqlite.versions import Stamp
from ragd.domain.models import TenantId

log = logging.getLogger(__name__)

_NORM_BLOCK = 8192


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
class Rows:
    """Rows of index_chunks/index_terms read for a load or patch, in rowid order."""

    rowids: np.ndarray
    chunk_ids: list[str]
    documents: list[str]
    sources: list[str]
    metadata: list[str]


def read_rows(conn: Connection, tenant: TenantId, only: list[int] | None) -> Rows:
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
    return Rows(
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )


def read_terms(
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
    rows = read_rows(conn, tenant, None)
    n = len(rows.rowids)
    cap = n + max(1024, n // 8)
    vectors = np.zeros((dim, cap), dtype=np.float32)
    if not vector_io.read_tenant(conn, tenant, rows.rowids, vectors.T):
        log.warning("tenant %s: index rows without vectors; searching through SQL", tenant)
        return None
    terms = read_terms(conn, tenant, rows.rowids, whole_tenant=True)
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
        rowids=resized(rows.rowids, cap),
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
    fill(snap, 0, rows)
    return snap


def fill(snap: Snapshot, start: int, rows: Rows) -> None:
    """Per-position norms and filter codes for rows placed at ``start``..."""
    end = start + len(rows.rowids)
    for a in range(start, end, _NORM_BLOCK):  # float64 norms, without a float64 copy of all
        b = min(a + _NORM_BLOCK, end)
        block = snap.vectors[:, a:b].astype(np.float64)
        snap.norms[a:b] = np.sqrt(np.einsum("ij,ij->j", block, block))
    snap.doc_code[start:end] = snap.docs.codes_of(rows.documents)
    snap.source_code[start:end] = snap.sources.codes_of(rows.sources)
    snap.meta_code[start:end] = snap.metas.codes_of(rows.metadata, parse_metadata)


def parse_metadata(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def resized(array: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap, *array.shape[1:]), dtype=array.dtype)
    n = min(len(array), cap)
    out[:n] = array[:n]
    return out
