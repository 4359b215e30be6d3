"""Zero-downtime reindex on Qdrant: fill a new collection beside the live one, then swap.

1. ``QdrantBuild`` notes the outbox's newest row (the watermark) and takes the reindex
   *hold*, which keeps applied rows after the watermark from being pruned; then it creates
   ``<alias>_v<n+1>``. Collections left by a build that crashed are dropped first.
2. The reindex writes every document of the Store into it (``add``), straight to Qdrant:
   searches keep using the live collection, and the sync keeps applying new writes there.
3. ``publish`` takes the sync lease (the sync pauses), replays every outbox row after the
   watermark onto the new collection in order (a document changed or deleted during the
   build ends in its latest state), moves the alias in one request, bumps the epoch so
   cached answers are dropped, releases lease and hold, and drops the old collection.
   Rows still pending are applied by the sync after the swap, to the new collection.

Rows encoded for another embedding spec (the reindex after a model change, with writers
still on the old model) are replayed from the Store through ``refresh`` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ragd.adapters.index.qdrant import ops
from ragd.adapters.index.qdrant.points import PointData
from ragd.adapters.index.qdrant.sync import MAX_POINTS_PER_REQUEST, apply_rows
from ragd.domain.models import IndexEntry, TenantId
from ragd.errors import BackendUnavailable, InvalidRequest

if TYPE_CHECKING:
    from ragd.adapters.index.qdrant.index import QdrantIndex

log = logging.getLogger(__name__)

HOLD_SECONDS = 600.0
"""A build renews its hold while it writes; one that stops for this long is presumed dead."""

REPLAY_PAGE = 500


class QdrantBuild:
    """IndexBuild port for Qdrant (see the module docstring)."""

    def __init__(self, index: QdrantIndex, *, owner: str, lease_wait_seconds: float = 120.0):
        self.index = index
        self.collections = index.collections
        self.outbox = index.outbox
        self.owner = owner
        self.lease_wait_seconds = lease_wait_seconds
        self.watermark = self.outbox.watermark()
        if not self.outbox.hold(owner, self.watermark, HOLD_SECONDS):
            raise InvalidRequest("another reindex is running (the outbox hold is taken)")
        self._renewed = time.monotonic()
        try:
            live = self.collections.live()
            for name in self.collections.versions():
                if name != live:  # we hold the hold: no other build is using it
                    log.info("qdrant: dropping %s, left by an unfinished reindex", name)
                    self.collections.drop(name)
            self.name = self.collections.create(index.spec)
        except BaseException:
            self.outbox.release_hold(owner)
            raise
        self.points_written = 0
        self._published = False

    def add(self, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]) -> None:
        """Upsert only: the collection is new and each document comes once, so there are
        no stale points to delete (a delete by filter per document would cost a scan of
        the collection in local mode)."""
        points = self.index.points(document_id, entries)
        upserts = ops.replace_document(tenant, document_id, points)[1:]
        for request in ops.batches(upserts, MAX_POINTS_PER_REQUEST):
            self.collections.write(request, self.name)
        self.points_written += len(points)
        if time.monotonic() - self._renewed > HOLD_SECONDS / 4:
            self.outbox.renew_hold(self.owner, HOLD_SECONDS)
            self._renewed = time.monotonic()

    def publish(self, refresh: Callable[[TenantId, str], Sequence[IndexEntry] | None]) -> None:
        def points_now(tenant: TenantId, document_id: str) -> list[PointData] | None:
            entries = refresh(tenant, document_id)
            return None if entries is None else self.index.points(document_id, entries)

        self._take_lease()
        try:
            after, replayed = self.watermark, 0
            while rows := self.outbox.rows_after(after, REPLAY_PAGE):
                apply_rows(
                    self.collections,
                    rows,
                    spec=self.index.spec,
                    target=self.name,
                    refresh=points_now,
                )
                after, replayed = rows[-1].id, replayed + len(rows)
                self.outbox.acquire(self.owner, self.lease_wait_seconds)  # renew
            previous = self.collections.swap(self.name)
            self._published = True
            self.outbox.new_epoch()
            log.info(
                "qdrant: reindex published %s (%d points, %d outbox rows replayed)",
                self.name,
                self.points_written,
                replayed,
            )
        finally:
            self.outbox.release(self.owner)
            self.outbox.release_hold(self.owner)
        if previous is not None:
            self.collections.drop(previous)

    def abandon(self) -> None:
        """Drop the new collection, unless the alias already points at it (a failure after
        the swap: the new collection is the live one, and only the old one is left over,
        to be dropped by the next build)."""
        try:
            if not self._published:
                self.collections.drop(self.name)
        finally:
            self.outbox.release_hold(self.owner)

    def _take_lease(self) -> None:
        """The sync lease: no sync writes to the old collection while this replays and
        swaps. A sync finishes its batch within its lease, so waiting is bounded."""
        deadline = time.monotonic() + self.lease_wait_seconds
        while not self.outbox.acquire(self.owner, self.lease_wait_seconds):
            if time.monotonic() > deadline:
                raise BackendUnavailable("the index sync lease was not released in time")
            time.sleep(0.2)
