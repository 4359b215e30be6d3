"""Cache port: answers and search results kept for ``CACHE_TTL_SECONDS``.

Keys are built by the caller from the tenant, the tenant's index version and every
parameter that changes the result, so a document change makes old entries unreachable at
once; ``invalidate_tenant`` also frees them. Values are JSON-compatible dicts so that a
shared cache (Redis) can hold them. A cache outage must never fail a request: adapters
swallow their own errors (log, count) and behave as a miss.
"""

from __future__ import annotations

from typing import Any, Protocol

from ragd.domain.models import TenantId


class Cache(Protocol):
    def get(self, tenant: TenantId, key: str) -> dict[str, Any] | None: ...

    def set(self, tenant: TenantId, key: str, value: dict[str, Any]) -> None: ...

    def invalidate_tenant(self, tenant: TenantId) -> None: ...

    def health(self) -> dict[str, Any]:
        """What ``/health/detailed`` shows of the cache (``backend``...). Unlike the other
        methods it raises when the backend does not answer (within the adapter's short
        timeout), so that the endpoint can report the outage the requests never see."""
        ...
