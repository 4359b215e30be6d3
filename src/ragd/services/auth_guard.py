"""Keeping failed API-key checks cheap for the server and useless for a guesser.

An API key's prefix is public and its secret is checked with Argon2id, which is slow and
takes 19 MiB on purpose. Without a guard, anyone who knows a prefix buys one such check per
request for free: forty strangers pushed a server to 1.4 GB. The guard bounds that work
before it starts, and only for work that has not proven itself: a key this process verified
recently (the ``Authenticator``'s own cache) skips all of it.

- **Failure budgets** on the Limiter port, so API replicas share them through Redis: each
  failed check spends one unit per client address (``RAGD_AUTH_FAILURES_PER_MINUTE``) and,
  when the prefix names a real key, one per prefix (``RAGD_AUTH_KEY_FAILURES_PER_MINUTE``,
  higher: it is spent by every address together). The Limiter cannot be asked without
  spending, so a refused spend is remembered here until the budget's retry time; until then
  that address or prefix gets 429 before any lookup or hash. Another replica learns it from
  its own next failure: at most one extra check per replica per refill.
- **A negative cache** of secrets already found wrong, by the SHA-256 of prefix and secret
  (never the secret itself), so repeating a wrong key costs no hash. A key's hash never
  changes (rotation issues a new prefix), so a wrong secret stays wrong: nothing to evict.
- **Hash slots**: at most ``RAGD_AUTH_MAX_CONCURRENT_CHECKS`` Argon2 checks at once, on as
  many threads of the guard's own (see ``check``); a check waits at most
  ``SLOT_WAIT_SECONDS`` for a slot, then the caller gets 503 with Retry-After.

The price, stated in the README: while an address or a prefix is over its budget, a
correct key that this process has not verified recently is refused too (429) until the
budget refills; keys in use stay verified and are not affected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cachetools import TTLCache

from ragd.domain.models import TenantId
from ragd.errors import Overloaded, RateLimited
from ragd.ports.limiter import Limiter

BUDGET_TENANT = TenantId("_auth")
"""The Limiter's tenant for failure budgets: they belong to no tenant (no real tenant id
starts with ``_``)."""
WINDOW_SECONDS = 60.0
SLOT_WAIT_SECONDS = 0.2
NEGATIVE_TTL_SECONDS = 600.0
NEGATIVE_ENTRIES = 4096
BLOCKED_ENTRIES = 65_536
"""Addresses and prefixes remembered as over budget; a flood from more addresses than this
only makes the oldest blocks be forgotten early (their next failure blocks them again)."""


@dataclass(frozen=True)
class GuardLimits:
    failures_per_address: int = 10
    failures_per_prefix: int = 30
    concurrent_checks: int = 4


class AuthGuard:
    """Thread-safe; one per process, shared by every request."""

    def __init__(
        self,
        limiter: Limiter,
        limits: GuardLimits = GuardLimits(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = limiter
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._blocked: TTLCache[str, float] = TTLCache(BLOCKED_ENTRIES, WINDOW_SECONDS, timer=clock)
        self._wrong: TTLCache[bytes, bool] = TTLCache(
            NEGATIVE_ENTRIES, NEGATIVE_TTL_SECONDS, timer=clock
        )
        self._slots = threading.BoundedSemaphore(limits.concurrent_checks)
        self._pool = ThreadPoolExecutor(limits.concurrent_checks, thread_name_prefix="ragd-key")

    def check_allowed(self, client: str | None, prefix: str | None) -> None:
        """429 if the address or the prefix is over its failure budget."""
        now = self._clock()
        for budget in _budgets(client, prefix):
            with self._lock:
                until = self._blocked.get(budget, 0.0)
            if until > now:
                raise RateLimited(
                    "too many failed authentications from this address or for this key; "
                    "retry later",
                    until - now,
                )

    def failed(self, client: str | None, prefix: str | None) -> None:
        """Spend one unit of each budget the failure belongs to; remember a refusal."""
        limits = {
            "address": self.limits.failures_per_address,
            "key": self.limits.failures_per_prefix,
        }
        for budget in _budgets(client, prefix):
            limit = limits[budget.split(":", 1)[0]]
            decision = self._limiter.hit(
                BUDGET_TENANT, "fail:" + budget, limit=limit, window_seconds=WINDOW_SECONDS
            )
            if not decision.allowed:
                with self._lock:
                    self._blocked[budget] = self._clock() + decision.retry_after_seconds

    def known_wrong(self, digest: bytes) -> bool:
        with self._lock:
            return digest in self._wrong

    def remember_wrong(self, digest: bytes) -> None:
        with self._lock:
            self._wrong[digest] = True

    def check(self, verify: Callable[[], bool]) -> bool:
        """Run one Argon2 check on the guard's own threads, or 503 at once (after a short
        wait) when all are busy.

        Own threads, not the caller's: the allocator keeps a freed 19 MiB block in the arena
        of the thread that used it, so checks spread over the 40 threads of the request pool
        would keep up to 40 such blocks alive. On ``concurrent_checks`` threads, at most that
        many are."""
        if not self._slots.acquire(timeout=SLOT_WAIT_SECONDS):
            raise Overloaded("too many API keys being checked at once; retry shortly")
        try:
            return self._pool.submit(verify).result()
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _budgets(client: str | None, prefix: str | None) -> list[str]:
    budgets = []
    if client:
        budgets.append("address:" + client)
    if prefix:
        budgets.append("key:" + prefix)
    return budgets
