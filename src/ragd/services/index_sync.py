"""The outbox sync as a loop of its own (``ragd sync``).

Ingestion workers already drain the outbox between batches and on every idle poll, which
is all the embedded mode and most deployments need. A dedicated sync process is for
deployments that scale workers to zero, or want index writes to keep flowing while every
worker is busy embedding (then set ``RAGD_OUTBOX_SYNC_IN_WORKER=false``). Any number may
run: the lease in the Store lets one apply at a time; the others wait their turn.
"""

from __future__ import annotations

import logging
import threading

from ragd.errors import BackendUnavailable
from ragd.ports.index_sync import IndexSync

log = logging.getLogger("ragd.sync")

BACKOFF_MAX_S = 30.0


def run_sync(
    sync: IndexSync, *, stop: threading.Event, poll_seconds: float, until_idle: bool = False
) -> int:
    """Drain until ``stop`` is set (or, with ``until_idle``, until nothing is pending);
    returns the rows applied. An unreachable Qdrant or Store is waited out with backoff."""
    applied = 0
    backoff = poll_seconds
    while not stop.is_set():
        try:
            n = sync.drain(max_seconds=30.0)
            idle = n == 0 and until_idle and sync.backlog() == 0
        except BackendUnavailable as exc:
            log.warning("sync: backend unavailable, retrying in %.1fs: %s", backoff, exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            continue
        backoff = poll_seconds
        applied += n
        if idle:
            break
        # Always a pause between drains (each runs up to 30 s when busy): the lease is
        # free meanwhile, which a reindex waiting to swap collections needs.
        stop.wait(poll_seconds)
    return applied
