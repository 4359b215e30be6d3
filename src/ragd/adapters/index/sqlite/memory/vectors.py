"""Reading stored vectors back out of sqlite-vec's ``vec0`` table, in bulk or by rowid.

Loading a tenant into memory needs all of its vectors. Through the virtual table that is
a point lookup per vector (~20-30 us: 2-3 s for 100k chunks); sqlite-vec 0.1 keeps them in
shadow tables, 1024 vectors to a blob, which read in ~0.2 s. The shadow layout is
sqlite-vec's internal format, so the bulk path is taken only for a table created by a
0.1.x release, checked against the virtual table on a sample, and any mismatch (an
unknown layout, a missing or extra rowid, a different vector) falls back to point reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from ragd.domain.models import TenantId

log = logging.getLogger(__name__)

_SAMPLE = 8
"""Vectors of a bulk read compared with point reads through vec0 before it is trusted."""


def read_by_rowid(conn: Connection, rowids: Sequence[int], out: np.ndarray) -> bool:
    """Fill ``out[i]`` with the vector of ``rowids[i]`` through vec0 point reads.

    False if any rowid has no vector.
    """
    if not len(rowids):
        return True
    slot = {int(r): i for i, r in enumerate(rowids)}
    rows = conn.exec_driver_sql(
        "SELECT j.value, v.embedding FROM json_each(?) j CROSS JOIN vec_chunks v"
        " ON v.rowid = j.value",
        (json.dumps([int(r) for r in rowids]),),
    ).all()
    if len(rows) != len(slot):
        return False
    for rowid, blob in rows:
        out[slot[int(rowid)]] = np.frombuffer(blob, dtype=np.float32)
    return True


def read_tenant(conn: Connection, tenant: TenantId, rowids: np.ndarray, out: np.ndarray) -> bool:
    """Fill ``out[i]`` with the vector of the tenant's ``rowids[i]`` (sorted, unique).

    False if some rowid has no vector.
    """
    if _read_shadow(conn, tenant, rowids, out):
        return True
    return read_by_rowid(conn, rowids.tolist(), out)


def _read_shadow(conn: Connection, tenant: TenantId, rowids: np.ndarray, out: np.ndarray) -> bool:
    dim = out.shape[1]
    try:
        info: dict[str, Any] = dict(
            conn.exec_driver_sql(
                "SELECT key, value FROM vec_chunks_info"
                " WHERE key IN ('CREATE_VERSION_MAJOR', 'CREATE_VERSION_MINOR')"
            ).all()
        )
        if (info.get("CREATE_VERSION_MAJOR"), info.get("CREATE_VERSION_MINOR")) != (0, 1):
            return False
        rows = conn.exec_driver_sql(  # iterated, not fetched at once: 1.5 MB a row
            "SELECT c.size, c.validity, c.rowids, v.vectors FROM vec_chunks_chunks c"
            " JOIN vec_chunks_vector_chunks00 v ON v.rowid = c.chunk_id"
            " WHERE c.partition00 = ? ORDER BY c.chunk_id",
            (tenant,),
        )
    except OperationalError as exc:
        log.debug("vec0 shadow tables unreadable, using point reads: %s", exc)
        return False
    found = np.zeros(len(rowids), dtype=bool)
    total = 0
    for size, validity, ids_blob, vec_blob in rows:
        size = int(size)
        if len(ids_blob) < size * 8 or len(vec_blob) < size * dim * 4 or len(validity) * 8 < size:
            return False
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        keep = np.flatnonzero(valid[:size])
        ids = np.frombuffer(ids_blob, dtype=np.int64, count=size)[keep]
        total += len(ids)
        slots = np.searchsorted(rowids, ids)
        if (slots >= len(rowids)).any():
            return False
        if not np.array_equal(rowids[slots], ids) or found[slots].any():
            return False
        found[slots] = True
        out[slots] = np.frombuffer(vec_blob, dtype=np.float32, count=size * dim).reshape(size, dim)[
            keep
        ]
    if total != len(rowids) or not found.all():
        return False
    if len(rowids):
        sample = np.unique(np.linspace(0, len(rowids) - 1, num=_SAMPLE).astype(np.int64))
        check = np.empty((len(sample), dim), dtype=np.float32)
        if not read_by_rowid(conn, rowids[sample].tolist(), check) or not np.array_equal(
            check, out[sample]
        ):
            log.warning("vec0 shadow layout not as expected; reading vectors one by one")
            return False
    return True
