"""Which due source runs next, on which of a worker's source slots.

The worker (embedded or ``ragd worker``) runs sources on threads of their own beside the
ingestion loop, so a long crawl never holds up parsing and embedding, and at most
``RAGD_SOURCES_CONCURRENCY`` at once per process. Fairness across tenants, as in
``services.scheduling``: a due source of a tenant with no run in progress (on any worker:
the leases say) goes before a second source of a tenant already being synced, so one
tenant's big bucket never stalls another tenant's small site. The documents a run submits
go through the ingestion queue, whose claims are fair across tenants too.

With a ``SourceWatch`` (``RAGD_SOURCES_WATCH``), each turn first makes due the folder
sources whose folder changed (``services.source_watch``): their runs start here, like any
other, on the same turn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ragd.domain.models import TenantId, utcnow
from ragd.errors import BackendUnavailable, LeaseLost, NotFound
from ragd.ports.sources import SourceStore
from ragd.services.source_sync import SourceSync
from ragd.services.source_watch import SourceWatch

log = logging.getLogger("ragd.sources")

DUE_LOOKAHEAD = 50


def fair_order(due: list[tuple[TenantId, str]], busy: set[TenantId]) -> list[tuple[TenantId, str]]:
    """Due sources, each idle tenant's oldest first, then the rest in due order."""
    first: list[tuple[TenantId, str]] = []
    rest: list[tuple[TenantId, str]] = []
    taken: set[TenantId] = set()
    for tenant, source_id in due:
        if tenant in busy or tenant in taken:
            rest.append((tenant, source_id))
        else:
            taken.add(tenant)
            first.append((tenant, source_id))
    return first + rest


class SourceScheduler:
    def __init__(
        self,
        sync: SourceSync,
        sources: SourceStore,
        *,
        concurrency: int,
        owner: str,
        watch: SourceWatch | None = None,
    ) -> None:
        self.sync = sync
        self.watch = watch
        self.sources = sources
        self.concurrency = concurrency
        self.owner = owner
        self._running: dict[str, tuple[TenantId, Future[object]]] = {}
        self._lock = threading.Lock()

    def tick(self, pool: ThreadPoolExecutor, should_stop: Callable[[], bool]) -> int:
        """Start due sources on free slots; how many were started."""
        with self._lock:
            for sid, (_, fut) in list(self._running.items()):
                if fut.done():
                    del self._running[sid]
            free = self.concurrency - len(self._running)
            if free <= 0:
                return 0
            now = utcnow()
            due = [d for d in self.sources.due(now, DUE_LOOKAHEAD) if d[1] not in self._running]
            if not due:
                return 0
            busy = self.sources.running_tenants(now) | {t for t, _ in self._running.values()}
            started = 0
            for tenant, source_id in fair_order(due, busy)[:free]:
                fut = pool.submit(self._run_one, tenant, source_id, should_stop)
                self._running[source_id] = (tenant, fut)
                started += 1
            return started

    def _run_one(self, tenant: TenantId, source_id: str, should_stop: Callable[[], bool]) -> None:
        try:
            self.sync.run(tenant, source_id, self.owner, should_stop=should_stop)
        except (LeaseLost, NotFound) as exc:
            log.info("source %s: %s", source_id, exc)
        except BackendUnavailable as exc:
            log.warning("source %s: database unavailable: %s", source_id, exc)
        except Exception:
            log.exception("source %s: run crashed", source_id)

    def run(self, stop: threading.Event, *, poll_seconds: float) -> None:
        """Start due sources until ``stop`` is set; then let the runs in progress stop at
        their next item (recorded ``partial``) and wait for them."""
        try:
            with ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="ragd-source"
            ) as pool:
                while not stop.is_set():
                    self._turn(pool, stop)
                    stop.wait(poll_seconds)
        finally:
            if self.watch is not None:
                self.watch.close()

    def _turn(self, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        try:
            if self.watch is not None:
                self.watch.tick()
            self.tick(pool, stop.is_set)
        except BackendUnavailable as exc:
            log.warning("sources: database unavailable: %s", exc)
        except Exception:
            log.exception("sources: scheduling failed")
