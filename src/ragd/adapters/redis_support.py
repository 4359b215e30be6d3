"""Redis plumbing shared by the cache and limiter adapters.

Both adapters sit on the request path and must degrade, not fail, when Redis does. So:

* ``connect`` builds a client that fails fast: short connect/read timeouts and a single
  immediate retry (redis-py's default is 3 retries with a backoff of up to seconds, which
  would stall every request while Redis is down). The one retry makes a server restart
  invisible: the first command on a pooled connection to the old server fails, the retry
  opens a new one. A ``redis+sentinel://`` URL (``ragd.config.redis_urls``) gives a client
  of the master the Sentinels name: each new connection asks them where the master is, so
  after a failover the retry lands on the new master (a connection to the old one, now a
  replica, fails with "the previous master is now a slave" and is dropped).
* ``Outage`` is a small circuit breaker: after a failure the adapter skips Redis for
  ``retry_interval`` seconds (a dead or hung server then costs nothing per call), then lets
  one call try again (the others keep skipping until it is answered), so it recovers by
  itself. It logs at most one warning per ``warn_interval`` (a
  flapping Redis cannot flood the log), with the number of failed or skipped calls since
  the last one, the error type and message (never keys or values), and one line when Redis
  answers again after a logged outage.
* ``tenant_segment`` makes a tenant id safe inside a ``:``-separated key, so that tenant
  ``a:1`` can never read tenant ``a``'s keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

from ragd.config.redis_urls import is_sentinel, parse_sentinel_url
from ragd.domain.models import TenantId

DEFAULT_SOCKET_TIMEOUT = 0.25
"""Seconds; a Redis on the same network answers in well under a millisecond."""
DEFAULT_RETRY_INTERVAL = 1.0
"""Seconds during which a failed Redis is not asked again."""

REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
"""What counts as an outage: every redis-py error (connection, timeout, OOM, READONLY...)."""


def connect(url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT) -> redis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``)
    that fails fast.

    No I/O happens here; the first command connects (through the Sentinels, for a
    Sentinel URL).

    Raises:
        ValueError: a malformed ``redis+sentinel://`` URL (the audit refuses it at start).
    """
    if is_sentinel(url):
        return _sentinel_master(url, socket_timeout)
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )


class SentinelRedis(redis.Redis):
    """The master's client; closing it also closes the connections to the Sentinels."""

    def close(self) -> None:
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            sentinel.close()


def _sentinel_master(url: str, socket_timeout: float) -> redis.Redis:
    target = parse_sentinel_url(url)
    # redis-py's own parser reads the query options (max_connections, socket_keepalive...)
    options = parse_url(f"redis://localhost/{target.db}?{target.query}")  # type: ignore[no-untyped-call]
    for key in ("host", "port", "username", "password"):
        options.pop(key, None)
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    sentinels = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        # A Sentinel that does not answer is skipped at once for the next one.
        sentinel_kwargs={**timeouts, "retry": Retry(NoBackoff(), 0)},
    )
    client: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        target.master,
        redis_class=SentinelRedis,
        username=target.username,
        password=target.password,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
        **{**timeouts, **options},
    )
    return client


def tenant_segment(tenant: TenantId) -> str:
    """``tenant`` percent-encoded: no ``:``, so key parsing stays unambiguous."""
    return quote(tenant, safe="")


class RateLimitedLog:
    """Warnings of one kind, at most one per ``interval`` seconds (thread-safe)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._suppressed = 0

    def warn(self, msg: str, *args: object) -> None:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            msg, args = msg + " (%d more since the last warning)", (*args, suppressed)
        self._log.warning(msg, *args)


class Outage:
    """Circuit breaker and rate-limited logging for one backend (thread-safe)."""

    def __init__(
        self,
        what: str,
        logger: logging.Logger,
        *,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        warn_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._log = logger
        self._retry_interval = retry_interval
        self._warn_interval = warn_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._last_warning: float | None = None
        self._failures = 0  # since the last warning
        self._total_failures = 0  # since the outage began
        self._announced = False  # a warning was logged for this outage

    @property
    def down(self) -> bool:
        """Whether the last call failed (until a later call succeeds)."""
        return self._down_until is not None

    def should_try(self) -> bool:
        """False while a recent failure says the backend is down; counts the skipped call."""
        with self._lock:
            if self._down_until is None:
                return True
            now = self._clock()
            if now >= self._down_until:  # half-open: this caller probes, the others wait
                self._down_until = now + self._retry_interval
                return True
            self._failures += 1
            self._total_failures += 1
            return False

    def failed(self, exc: BaseException, action: str) -> None:
        """Record a failed call; ``action`` says what was done instead (for the log)."""
        with self._lock:
            now = self._clock()
            self._down_until = now + self._retry_interval
            self._failures += 1
            self._total_failures += 1
            if self._last_warning is not None and now - self._last_warning < self._warn_interval:
                return
            count, self._failures, self._last_warning = self._failures, 0, now
            self._announced = True
        self._log.warning(
            "%s unavailable (%s: %s); %s. %d failed or skipped call(s) since the last warning",
            self._what,
            type(exc).__name__,
            str(exc)[:200],
            action,
            count,
        )

    def succeeded(self) -> None:
        """Record a successful call; logs the recovery of an outage that was logged."""
        if self._down_until is None:  # the common case, without taking the lock
            return
        with self._lock:
            if self._down_until is None:
                return
            total, announced = self._total_failures, self._announced
            self._down_until = None
            self._total_failures = 0
            self._announced = False
        if announced:
            self._log.warning("%s is back after %d failed or skipped call(s)", self._what, total)
