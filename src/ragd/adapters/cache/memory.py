"""In-process query cache: TTL + LRU (cachetools), per-tenant generations.

Invalidating a tenant bumps its generation, which is part of every stored key, so it is
O(1) and old entries simply age out of the LRU. The cache lives in one process; with
several API replicas use the Redis adapter (``REDIS_URL``) so they share it.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from cachetools import TTLCache

from ragd.domain.models import TenantId


class MemoryCache:
    def __init__(self, *, ttl_seconds: float, max_size: int) -> None:
        self._enabled = ttl_seconds > 0 and max_size > 0
        self._entries: TTLCache[tuple[str, int, str], dict[str, Any]] = TTLCache(
            maxsize=max(1, max_size), ttl=max(ttl_seconds, 0.001)
        )
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, tenant: TenantId, key: str) -> dict[str, Any] | None:
        if not self._enabled:
            return None
        with self._lock:
            value = self._entries.get((tenant, self._generations.get(tenant, 0), key))
        return copy.deepcopy(value) if value is not None else None

    def set(self, tenant: TenantId, key: str, value: dict[str, Any]) -> None:
        if not self._enabled:
            return
        with self._lock:
            self._entries[(tenant, self._generations.get(tenant, 0), key)] = copy.deepcopy(value)

    def invalidate_tenant(self, tenant: TenantId) -> None:
        with self._lock:
            self._generations[tenant] = self._generations.get(tenant, 0) + 1

    def health(self) -> dict[str, Any]:
        return {"backend": "memory"}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
