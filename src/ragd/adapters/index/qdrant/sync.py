"""The outbox sync: applies committed index writes to Qdrant, idempotently, in order.

One applier at a time holds the sync lease (a row in the Store), so rows of a document are
applied in the order they were written, and a reindex can stop the sync while it swaps
collections. A batch is the oldest pending rows; per document only the newest row counts
(each row carries the document's whole state: its points, or its deletion), and the
batch's operations go to Qdrant in ordered requests. Only then are the rows marked applied
in the Store, fenced by the lease. A sync killed anywhere in between leaves its rows
pending; the next one (after the lease expires) applies them again, to the same result,
since every point id is derived from its tenant and chunk id.

A row encoded for another embedding spec than the live collection's (writers still on the
old model while a reindex swapped in a new one) cannot be applied: it is skipped with a
warning, and ``ragd reconcile`` re-embeds the document's chunks.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from ragd.adapters.index.qdrant import ops
from ragd.adapters.index.qdrant.client import QdrantCollections
from ragd.adapters.index.qdrant.outbox import Outbox, OutboxRow
from ragd.adapters.index.qdrant.points import PointData, decode
from ragd.domain.models import EmbeddingSpec, TenantId
from ragd.errors import ConfigError, LeaseLost
from ragd.ports.index_sync import DriftCounts

log = logging.getLogger(__name__)

MAX_POINTS_PER_REQUEST = 512
"""Upserted points per Qdrant request (~1 MB of 384-d vectors as JSON)."""

Refresh = Callable[[TenantId, str], list[PointData] | None]
"""A document's current points from the Store (None: it is gone), for rows that cannot be
replayed as they are."""


def apply_rows(
    collections: QdrantCollections,
    rows: Sequence[OutboxRow],
    *,
    spec: EmbeddingSpec,
    target: str | None = None,
    refresh: Refresh | None = None,
) -> int:
    """Write the newest state of each document among ``rows`` to ``target`` (the alias by
    default); returns the documents written."""
    latest: dict[tuple[TenantId, str], OutboxRow] = {}
    for row in sorted(rows, key=lambda r: r.id):
        latest.pop((row.tenant_id, row.document_id), None)  # keep write order of the newest
        latest[(row.tenant_id, row.document_id)] = row
    operations: list[object] = []
    for (tenant, document_id), row in latest.items():
        if row.op == "delete" or row.payload is None:
            operations.extend(ops.replace_document(tenant, document_id, []))
            continue
        encoded = decode(row.payload)
        points: list[PointData] | None = encoded.points
        if encoded.spec != spec:
            if refresh is None:
                log.warning(
                    "outbox row %d (document %s) was encoded for %s, the live collection is "
                    "for %s: skipped; `ragd reconcile` re-adds its chunks",
                    row.id,
                    document_id,
                    encoded.spec,
                    spec,
                )
                continue
            points = refresh(tenant, document_id)
        operations.extend(ops.replace_document(tenant, document_id, points or []))
    for request in ops.batches(operations, MAX_POINTS_PER_REQUEST):
        collections.write(request, target)
    return len(latest)


class OutboxSync:
    """IndexSync port for Qdrant: drains the Store's outbox into the live collection."""

    def __init__(
        self,
        collections: QdrantCollections,
        outbox: Outbox,
        *,
        batch_size: int = 256,
        lease_seconds: float = 60.0,
        owner: str | None = None,
    ) -> None:
        self.collections = collections
        self.outbox = outbox
        self.batch_size = max(1, int(batch_size))
        # Must outlive a batch's slowest Qdrant writes (QDRANT_TIMEOUT x retries): a sync
        # whose lease ran out while it wrote could be overtaken by another.
        self.lease_seconds = float(lease_seconds)
        self.owner = owner or f"sync:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def drain(self, *, max_seconds: float | None = None) -> int:
        if not self.outbox.has_pending():
            return 0
        if not self.outbox.acquire(self.owner, self.lease_seconds):
            return 0
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        applied = 0
        try:
            live = self.collections.live()
            if live is None:
                raise ConfigError("no live Qdrant collection; start ragd or run `ragd reindex`")
            spec = self.collections.spec(live)
            assert spec is not None
            while True:
                rows = self.outbox.pending(self.batch_size)
                if not rows:
                    break
                # Renewed before every batch: the writes below finish well within it.
                if not self.outbox.acquire(self.owner, self.lease_seconds):
                    break
                apply_rows(self.collections, rows, spec=spec)
                try:
                    self.outbox.mark_applied(self.owner, rows)
                except LeaseLost:
                    # Paused past the lease (a stalled process): another sync took over
                    # and applies these rows again, in order; this one stops here.
                    log.warning("index sync %s lost its lease; stopping", self.owner)
                    break
                applied += len(rows)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        finally:
            self.outbox.release(self.owner)
        if applied:
            log.info("index sync: applied %d outbox row(s)", applied)
        return applied

    def backlog(self) -> int:
        return self.outbox.backlog()

    def is_pending(self, tenant: TenantId, document_id: str) -> bool:
        stale, _ = self.outbox.pending_documents(tenant, [document_id])
        return bool(stale)

    def record_drift(self, drift: DriftCounts) -> None:
        self.outbox.record_drift(
            {
                "missing": drift.missing,
                "orphans": drift.orphans,
                "checked_at": drift.checked_at.isoformat(),
                "repaired": drift.repaired,
            }
        )

    def last_drift(self) -> DriftCounts | None:
        raw = self.outbox.last_drift()
        if not raw:
            return None
        return DriftCounts(
            missing=int(raw["missing"]),
            orphans=int(raw["orphans"]),
            checked_at=datetime.fromisoformat(raw["checked_at"]),
            repaired=bool(raw.get("repaired", False)),
        )
