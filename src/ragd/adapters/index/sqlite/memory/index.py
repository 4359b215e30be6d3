"""The in-memory index of SqliteIndex: per-tenant search state, coherent with the database.

Why: at 100k chunks sqlite-vec's brute-force KNN (no SIMD in this build) takes ~60 ms and
FTS5 scores every row matching any OR-ed term (~150-250 ms). In memory, dense search is
one BLAS matrix-vector product (~8-15 ms) and keyword search touches only the query
terms' postings (~4-8 ms); both are exact (bench/README.md has the figures).

What a tenant costs, at 100k chunks of SciFact-like text with 384-d vectors: 286 MiB by
``Snapshot.nbytes``, 320 MiB of process memory measured (~3.2 KiB a chunk): its vectors
as float32 (1.5 KiB a chunk), 8 bytes per posting (~125 distinct terms a chunk), ~40
bytes of per-chunk arrays, ~200 bytes of Python objects, 1/8 spare capacity for growth.
Loading it (the tenant's first search in a process) takes ~4 s at 100k chunks and
briefly needs about twice that memory. ``MemoryIndex`` keeps the most recently searched
tenants within ``max_bytes`` and leaves a tenant that alone exceeds it to the SQL paths.

Coherence comes from the database (``sqlite/versions.py``), never from in-process signals, since
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

The parts: ``snapshot.py`` (a tenant's arrays), ``load.py`` and ``patch.py`` (reading them
in, keeping them current), ``search.py`` (ranking one snapshot), ``postings.py`` (BM25),
``vectors.py`` (bulk vector reads), ``blas.py`` (one BLAS thread per search worker).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from sqlalchemy import Connection

from ragd.adapters.index.sqlite import versions
from ragd.adapters.index.sqlite.memory.load import load
from ragd.adapters.index.sqlite.memory.patch import patch
from ragd.adapters.index.sqlite.memory.snapshot import Snapshot, estimate_bytes
from ragd.adapters.index.sqlite.versions import Stamp
from ragd.domain.models import TenantId

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
"""Default memory for cached tenants per process (~400k chunks of 384-d vectors)."""


class MemoryIndex:
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
