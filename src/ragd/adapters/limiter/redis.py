"""Redis rate limiter, one budget per (tenant, key) shared by every API replica.

Same algorithm as the in-process adapter: GCRA (see ``gcra`` for the arithmetic and for why
not a sliding window). Each hit is one Lua script, so reading and moving the budget is
atomic however many replicas hit the same key at once, and it is one round trip. The
script reads the clock with Redis ``TIME``: every replica measures against the same clock,
so skew between API hosts cannot stretch or shrink a window.

State: one string per budget, ``ragd:limit:{tenant}:{key}`` (tenant percent-encoded, so
never containing ``:``) holding the theoretical arrival time in microseconds, expiring when
the budget is full again: idle keys cost nothing. One key per script call, so it also works
on Redis Cluster. Needs Redis >= 5 (``TIME`` inside a script that writes).

On a Redis outage (error, timeout, or within ``retry_interval_seconds`` of one) the limiter
decides without Redis: fail-open (``RATE_LIMIT_FAIL_OPEN=true``, the default) lets the call
through, because an unreachable limiter should not take the whole API down with it;
fail-closed refuses it with ``retry_after_seconds = retry_interval_seconds``, for
deployments where an unmetered call costs more than a refused one (paid LLM tokens). Either
way the outage is counted in ``ragd_limiter_errors_total{outcome}`` and logged
(rate-limited), and the limiter recovers by itself when Redis is back.
"""

from __future__ import annotations

import logging

import redis

from ragd.adapters.limiter import gcra
from ragd.adapters.redis_support import (
    DEFAULT_RETRY_INTERVAL,
    DEFAULT_SOCKET_TIMEOUT,
    REDIS_ERRORS,
    Outage,
    connect,
    tenant_segment,
)
from ragd.config import LimitsSettings
from ragd.domain.models import TenantId
from ragd.errors import ConfigError
from ragd.observability.metrics import LIMITER_ERRORS
from ragd.ports.limiter import Decision

logger = logging.getLogger(__name__)

# KEYS[1] budget key; ARGV: limit, window (µs), cost. Mirrors gcra.hit (times in µs).
# Returns {allowed, remaining, retry_after_us, reset_after_us}; integers, because Redis
# truncates Lua numbers to integers on the way out.
_GCRA_LUA = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - window
if allow_at - now > 0.001 then
  local remaining = math.max(0, math.floor((window - (tat - now)) / interval + 1e-9))
  return {0, remaining, math.ceil(allow_at - now), math.ceil(tat - now)}
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', ttl_ms)
local remaining = math.max(0, math.floor((window - (new_tat - now)) / interval + 1e-9))
return {1, remaining, 0, math.ceil(new_tat - now)}
"""


class RedisLimiter:
    """The ``Limiter`` port on Redis; thread-safe (redis-py's connection pool is)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        fail_open: bool = True,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL,
        prefix: str = "ragd:limit",
    ) -> None:
        self._redis = client
        self._script = client.register_script(_GCRA_LUA)  # EVALSHA; reloaded after a restart
        self._fail_open = fail_open
        self._retry_interval = retry_interval_seconds
        self._prefix = prefix
        self._outage = Outage("redis rate limiter", logger, retry_interval=retry_interval_seconds)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        fail_open: bool = True,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        retry_interval_seconds: float = DEFAULT_RETRY_INTERVAL,
    ) -> RedisLimiter:
        return cls(
            connect(url, socket_timeout=socket_timeout),
            fail_open=fail_open,
            retry_interval_seconds=retry_interval_seconds,
        )

    def hit(
        self, tenant: TenantId, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> Decision:
        gcra.check_arguments(limit, window_seconds, cost)
        if not self._outage.should_try():
            return self._without_redis(limit, window_seconds, cost)
        try:
            allowed, remaining, retry_us, reset_us = self._script(
                keys=[f"{self._prefix}:{tenant_segment(tenant)}:{key}"],
                args=[limit, max(1, round(window_seconds * 1_000_000)), cost],
            )
        except REDIS_ERRORS as exc:
            decision = self._without_redis(limit, window_seconds, cost)
            self._outage.failed(exc, "allowing calls" if self._fail_open else "refusing calls")
            return decision
        self._outage.succeeded()
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=int(remaining),
            retry_after_seconds=int(retry_us) / 1_000_000,
            reset_after_seconds=int(reset_us) / 1_000_000,
        )

    def close(self) -> None:
        self._redis.close()

    def _without_redis(self, limit: int, window_seconds: float, cost: int) -> Decision:
        if self._fail_open:
            LIMITER_ERRORS.labels(outcome="fail_open").inc()
            return Decision(True, limit, limit - cost, 0.0, 0.0)
        LIMITER_ERRORS.labels(outcome="fail_closed").inc()
        return Decision(False, limit, 0, self._retry_interval, window_seconds)


def build(redis_url: str | None, limits: LimitsSettings) -> RedisLimiter:
    """The limiter at ``REDIS_URL``, failing open or closed (``RATE_LIMIT_FAIL_OPEN``)."""
    if not redis_url:
        raise ConfigError("the Redis rate limiter needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    return RedisLimiter.from_url(redis_url, fail_open=limits.rate_limit_fail_open)
