"""Folder sources run soon after their folder changes, through the scheduler.

A change never runs a sync itself: it makes the source due (``next_run_at`` now), and the
scheduler starts the run as it starts a scheduled one, so a watched run has the same lease,
the same exactly-once steps and the same fairness across tenants, and a run already in
progress is never doubled. A change seen while a run is in progress is kept until a run
that *started after it* has begun (the run in progress may have listed that file already):
the source is made due again once the run ends. The periodic full scan goes on as before.

The worker's scheduler calls ``tick`` each turn: it lists the folder sources of every
tenant, keeps the watcher's set equal to them (new sources watched, removed or disabled
ones dropped), and turns the watcher's reports into due sources. At most ``max_folders``
are watched, shared round-robin across tenants (each tenant's oldest first), so one tenant
with many folders cannot take every watch; the others are scanned on their schedule only.
A burst of changes is one report (the watcher's debounce), and a noisy folder gets at most
one run at a time, behind the other tenants' due sources (``source_schedule.fair_order``).
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime

from ragd.domain.models import TenantId, utcnow
from ragd.errors import NotFound
from ragd.ports.sources import FolderWatcher, SourceStore

log = logging.getLogger("ragd.sources")

LIST_LIMIT = 10_000
"""Folder sources read per turn (the watched ones are chosen among them)."""

Folder = tuple[TenantId, str, str]


def fair_pick(folders: list[Folder], limit: int) -> list[Folder]:
    """Up to ``limit`` folders, one per tenant per round, each tenant's in list order."""
    queues: dict[TenantId, deque[Folder]] = {}
    for f in folders:
        queues.setdefault(f[0], deque()).append(f)
    picked: list[Folder] = []
    while len(picked) < limit and queues:
        for tenant in list(queues):
            if len(picked) >= limit:
                break
            picked.append(queues[tenant].popleft())
            if not queues[tenant]:
                del queues[tenant]
    return picked


class SourceWatch:
    def __init__(self, sources: SourceStore, watcher: FolderWatcher, *, max_folders: int) -> None:
        self.sources = sources
        self.watcher = watcher
        self.max_folders = max_folders
        self.unwatched: dict[str, str] = {}
        """Source id -> why its folder is not watched now (last turn)."""
        self._tenants: dict[str, TenantId] = {}
        self._pending: dict[str, tuple[TenantId, datetime]] = {}
        """Source id -> (tenant, its latest change): waiting for a run that starts after."""
        self._left_out = 0

    @property
    def watched(self) -> int:
        return len(self._tenants) - len(self.unwatched)

    def tick(self, now: datetime | None = None) -> int:
        """Bring the watches in line with the folder sources and make the changed ones
        due; how many were made due."""
        listed = self.sources.folders(LIST_LIMIT)
        chosen = fair_pick(listed, self.max_folders)
        self._note_left_out(len(listed) - len(chosen))
        self._tenants = {sid: tenant for tenant, sid, _ in chosen}
        self.unwatched = self.watcher.watch({sid: path for _, sid, path in chosen})
        for sid, at in self.watcher.changed().items():
            tenant = self._tenants.get(sid)
            if tenant is None:
                continue  # removed since
            before = self._pending.get(sid)
            self._pending[sid] = (tenant, at if before is None else max(at, before[1]))
        return self._request(now or utcnow())

    def _request(self, now: datetime) -> int:
        requested = 0
        for sid, (tenant, since) in list(self._pending.items()):
            if sid not in self._tenants:
                del self._pending[sid]  # removed, disabled, or no longer among the watched
                continue
            try:
                source = self.sources.get(tenant, sid)
            except NotFound:
                del self._pending[sid]
                continue
            if source.last_started_at is not None and source.last_started_at >= since:
                del self._pending[sid]  # a run that began after the change lists it
                continue
            if source.running or (source.next_run_at is not None and source.next_run_at <= now):
                continue  # due already, or a run in progress: made due again once it ends
            self.sources.update(tenant, sid, next_run_at=now)
            requested += 1
            log.info("source %s: folder changed, run requested", sid)
        return requested

    def _note_left_out(self, n: int) -> None:
        if n > 0 and n != self._left_out:
            log.warning(
                "%d folder sources are not watched (RAGD_SOURCES_WATCH_MAX=%d): "
                "they are synced on their schedule only",
                n,
                self.max_folders,
            )
        self._left_out = n

    def close(self) -> None:
        self.watcher.close()
