"""Redis query cache, shared by every API replica (``REDIS_URL``).

Layout (``{t}`` is the tenant id, percent-encoded so that it never contains ``:``)::

    ragd:cache:{t}:gen             the tenant's generation counter (no TTL)
    ragd:cache:{t}:{gen}:{key}     a JSON value, expiring after CACHE_TTL_SECONDS

``invalidate_tenant`` is one ``INCR`` of the generation: O(1) however many entries the
tenant has, and seen at once by every replica because each ``get`` reads the current
generation (two round trips, both plain commands, so it also works on Redis Cluster).
Entries of old generations are unreachable and expire on their own. Generation keys carry
no TTL on purpose: a counter that vanished would restart at 0 and could make live entries
of an earlier generation visible again. Use a ``volatile-*`` eviction policy (or none) so
that Redis only evicts entries, which all have a TTL.

A cache outage never fails a request (see ``ragd.ports.cache``): every Redis error turns a
``get`` into a miss and ``set``/``invalidate_tenant`` into no-ops, is counted in
``ragd_cache_errors_total`` and logged (rate-limited, without keys or values). After a
failure, Redis is left alone for ``retry_interval_seconds`` and then tried again, so the
cache comes back by itself when Redis does.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import redis

from ragd.adapters.redis_support import (
    DEFAULT_RETRY_INTERVAL,
    DEFAULT_SOCKET_TIMEOUT,
    REDIS_ERRORS,
    Outage,
    RateLimitedLog,
    connect,
    tenant_segment,
)
from ragd.config import CacheSettings
from ragd.domain.models import TenantId
from ragd.errors import ConfigError
from ragd.observability.metrics import CACHE_ERRORS

logger = logging.getLogger(__name__)


class RedisCache:
    """The ``Cache`` port on Redis; thread-safe (redis-py's connection pool is)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_seconds: float,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL,
        prefix: str = "ragd:cache",
    ) -> None:
        self._redis = client
        self._enabled = ttl_seconds > 0
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._prefix = prefix
        self._outage = Outage("redis cache", logger, retry_interval=retry_interval_seconds)
        self._value_warnings = RateLimitedLog(logger)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_seconds: float,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL,
    ) -> RedisCache:
        return cls(
            connect(url, socket_timeout=socket_timeout),
            ttl_seconds=ttl_seconds,
            retry_interval_seconds=retry_interval_seconds,
        )

    def get(self, tenant: TenantId, key: str) -> dict[str, Any] | None:
        if not self._enabled or not self._outage.should_try():
            self._skipped("get")
            return None
        try:
            base = self._tenant_base(tenant)
            # redis-py types a command's reply as Awaitable | Any (sync and asyncio clients).
            raw = cast("bytes | None", self._redis.get(f"{base}:{self._generation(base)}:{key}"))
        except REDIS_ERRORS as exc:
            self._failed("get", exc, "serving misses")
            return None
        self._outage.succeeded()
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:  # not written by this adapter
            self._bad_value("decode", exc, "a miss")
            return None
        return value if isinstance(value, dict) else None

    def set(self, tenant: TenantId, key: str, value: dict[str, Any]) -> None:
        if not self._enabled or not self._outage.should_try():
            self._skipped("set")
            return
        try:
            payload = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            self._bad_value("encode", exc, "not cached")
            return
        try:
            base = self._tenant_base(tenant)
            self._redis.set(f"{base}:{self._generation(base)}:{key}", payload, px=self._ttl_ms)
        except REDIS_ERRORS as exc:
            self._failed("set", exc, "not caching")
            return
        self._outage.succeeded()

    def invalidate_tenant(self, tenant: TenantId) -> None:
        if not self._enabled or not self._outage.should_try():
            self._skipped("invalidate")
            return
        try:
            self._redis.incr(f"{self._tenant_base(tenant)}:gen")
        except REDIS_ERRORS as exc:
            self._failed("invalidate", exc, "entries stay until they expire")
            return
        self._outage.succeeded()

    def health(self) -> dict[str, Any]:
        """A PING on the client's own short socket timeout; raises ``redis.RedisError``."""
        self._redis.ping()
        return {"backend": "redis"}

    def close(self) -> None:
        self._redis.close()

    def _tenant_base(self, tenant: TenantId) -> str:
        return f"{self._prefix}:{tenant_segment(tenant)}"

    def _generation(self, base: str) -> int:
        raw = cast("bytes | None", self._redis.get(f"{base}:gen"))
        return int(raw) if raw is not None else 0

    def _skipped(self, operation: str) -> None:
        if self._enabled and self._outage.down:
            CACHE_ERRORS.labels(operation=operation).inc()
        return None

    def _failed(self, operation: str, exc: BaseException, action: str) -> None:
        CACHE_ERRORS.labels(operation=operation).inc()
        self._outage.failed(exc, action)
        return None

    def _bad_value(self, operation: str, exc: BaseException, action: str) -> None:
        """A value that is not JSON (a caller bug, or an entry not written by ragd): counted
        and logged (type only, rate-limited), but Redis itself is fine."""
        CACHE_ERRORS.labels(operation=operation).inc()
        self._value_warnings.warn(
            "redis cache: cannot %s a value (%s); %s", operation, type(exc).__name__, action
        )
        return None


def build(redis_url: str | None, cache: CacheSettings) -> RedisCache:
    """The cache at ``REDIS_URL`` with ``CACHE_TTL_SECONDS``."""
    if not redis_url:
        raise ConfigError("the Redis cache needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    return RedisCache.from_url(redis_url, ttl_seconds=cache.ttl_seconds)
