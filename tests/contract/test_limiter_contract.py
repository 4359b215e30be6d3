"""Limiter contract, run against every adapter: in-process (reference), Redis (real
server from ``REDIS_URL``; see ``tests/services.py``) and Redis behind a Sentinel of the
test session (``redis+sentinel://``, tests/private_sentinel.py).

Timing: assertions that a call is *refused* use long windows (a refill takes seconds), and
assertions that a call is *allowed* after a wait only get easier as time passes, so a slow
or busy machine cannot make these tests flaky.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ragd.adapters.limiter.memory import MemoryLimiter
from ragd.adapters.limiter.redis import RedisLimiter
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.ports.limiter import Decision, Limiter
from tests.services import redis_url


def sentinel_url(request: pytest.FixtureRequest) -> str:
    """The session's private Sentinel (started on first use: tests/private_sentinel.py)."""
    return str(request.getfixturevalue("sentinel_redis_url"))


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.integration),
        pytest.param("sentinel", id="redis-sentinel", marks=pytest.mark.integration),
    ]
)
def make_limiter(request: pytest.FixtureRequest) -> Iterator[Callable[[], Limiter]]:
    """A factory; two limiters from it are two API replicas (shared state on Redis)."""
    shared: list[MemoryLimiter] = []
    closers: list[Callable[[], None]] = []

    def make() -> Limiter:
        if request.param == "memory":
            if not shared:
                shared.append(MemoryLimiter())
            return shared[0]
        url = redis_url() if request.param == "redis" else sentinel_url(request)
        limiter = RedisLimiter.from_url(url)
        closers.append(limiter.close)
        return limiter

    yield make
    for close in closers:
        close()


@pytest.fixture
def limiter(make_limiter: Callable[[], Limiter]) -> Limiter:
    return make_limiter()


def hits(limiter: Limiter, tenant: TenantId, key: str, n: int, **kw: Any) -> list[Decision]:
    return [limiter.hit(tenant, key, **kw) for _ in range(n)]


def test_allows_up_to_the_limit_then_refuses(limiter: Limiter, tenant: TenantId) -> None:
    decisions = hits(limiter, tenant, "api-key-1", 6, limit=5, window_seconds=60)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    assert all(d.retry_after_seconds == 0 for d in decisions[:5])
    refused = decisions[-1]
    # 5 per 60 s: one unit comes back every 12 s.
    assert 11.0 < refused.retry_after_seconds <= 12.0
    assert 59.0 < refused.reset_after_seconds <= 60.0
    again = limiter.hit(tenant, "api-key-1", limit=5, window_seconds=60)
    assert not again.allowed  # a refused call spends nothing, but does not help either
    assert again.retry_after_seconds <= refused.retry_after_seconds


def test_waiting_retry_after_is_enough(limiter: Limiter, tenant: TenantId) -> None:
    kw: dict[str, Any] = {"limit": 4, "window_seconds": 0.4}
    refused = None
    for _ in range(50):  # exhaust the budget, however slowly this machine runs
        d = limiter.hit(tenant, "k", **kw)
        if not d.allowed:
            refused = d
            break
    assert refused is not None
    assert 0 < refused.retry_after_seconds <= 0.1 + 1e-6
    time.sleep(refused.retry_after_seconds + 0.01)
    assert limiter.hit(tenant, "k", **kw).allowed


def test_budget_is_full_again_after_the_window(limiter: Limiter, tenant: TenantId) -> None:
    assert all(d.allowed for d in hits(limiter, tenant, "k", 3, limit=3, window_seconds=0.3))
    time.sleep(0.35)
    again = hits(limiter, tenant, "k", 3, limit=3, window_seconds=0.3)
    assert all(d.allowed for d in again)
    assert again[0].remaining == 2


def test_tenants_and_keys_have_their_own_budgets(limiter: Limiter, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-other")
    kw: dict[str, Any] = {"limit": 1, "window_seconds": 60}
    assert limiter.hit(tenant, "k", **kw).allowed
    assert not limiter.hit(tenant, "k", **kw).allowed
    assert limiter.hit(other, "k", **kw).allowed  # same key, another tenant
    assert limiter.hit(tenant, "k2", **kw).allowed  # same tenant, another key
    # Separators cannot make two budgets one: tenant "X:k" + key "z" vs tenant "X" + "k:z".
    assert limiter.hit(TenantId(f"{tenant}:k"), "z", **kw).allowed
    assert limiter.hit(tenant, "k:z", **kw).allowed


def test_cost_spends_several_units(limiter: Limiter, tenant: TenantId) -> None:
    def hit(cost: int) -> Decision:
        return limiter.hit(tenant, "tokens", limit=10, window_seconds=60, cost=cost)

    first, second, too_much, rest = hit(4), hit(4), hit(4), hit(2)
    assert (first.allowed, first.remaining) == (True, 6)
    assert (second.allowed, second.remaining) == (True, 2)
    assert (too_much.allowed, too_much.remaining) == (False, 2)  # refused: nothing spent
    assert 11.0 < too_much.retry_after_seconds <= 12.0  # 2 more units: 2 x 6 s
    assert (rest.allowed, rest.remaining) == (True, 0)


def test_replicas_share_one_budget(make_limiter: Callable[[], Limiter], tenant: TenantId) -> None:
    a, b = make_limiter(), make_limiter()
    kw: dict[str, Any] = {"limit": 2, "window_seconds": 60}
    assert a.hit(tenant, "k", **kw).allowed
    assert b.hit(tenant, "k", **kw).allowed
    assert not a.hit(tenant, "k", **kw).allowed
    assert not b.hit(tenant, "k", **kw).allowed


def test_concurrent_hits_never_exceed_the_limit(limiter: Limiter, tenant: TenantId) -> None:
    limit, threads, per_thread = 40, 8, 15  # 120 attempts; one unit refills every 15 s
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        start.wait()
        mine = [
            limiter.hit(tenant, "burst", limit=limit, window_seconds=600).allowed
            for _ in range(per_thread)
        ]
        with lock:
            allowed.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=30)
    assert len(allowed) == threads * per_thread
    assert sum(allowed) == limit


@pytest.mark.parametrize(
    ("limit", "window", "cost"),
    [(0, 60, 1), (5, 0, 1), (5, -1, 1), (5, 60, 0), (5, 60, 6)],
)
def test_impossible_budgets_are_invalid_requests(
    limiter: Limiter, tenant: TenantId, limit: int, window: float, cost: int
) -> None:
    with pytest.raises(InvalidRequest):
        limiter.hit(tenant, "k", limit=limit, window_seconds=window, cost=cost)
