"""In-process rate limiter (GCRA, see ``gcra``); the embedded default.

Budgets live in this process only: with several API replicas each one would allow the full
limit, so multi-replica deployments use the Redis adapter (``REDIS_URL``). Thread-safe (one
lock; a hit is a few float operations). Budgets that are full again are dropped now and
then, so memory stays proportional to the keys active in the last window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ragd.adapters.limiter import gcra
from ragd.domain.models import TenantId
from ragd.ports.limiter import Decision

_SWEEP_EVERY = 4096
"""Hits between two sweeps of full budgets."""


class MemoryLimiter:
    """The ``Limiter`` port in one process. ``clock`` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._hits = 0

    def hit(
        self, tenant: TenantId, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> Decision:
        gcra.check_arguments(limit, window_seconds, cost)
        with self._lock:
            now = self._clock()
            decision, new_tat = gcra.hit(
                self._tats.get((tenant, key)), now, limit=limit, window=window_seconds, cost=cost
            )
            if new_tat is not None:
                self._tats[(tenant, key)] = new_tat
            self._hits += 1
            if self._hits % _SWEEP_EVERY == 0:
                self._tats = {k: tat for k, tat in self._tats.items() if tat > now}
        return decision

    def __len__(self) -> int:
        with self._lock:
            return len(self._tats)
