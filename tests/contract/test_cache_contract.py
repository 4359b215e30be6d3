"""Cache contract, run against every adapter: in-process (reference), Redis (real server
from ``REDIS_URL``; see ``tests/services.py``) and Redis behind a Sentinel of the test
session (``redis+sentinel://``, tests/private_sentinel.py). A fresh tenant per test keeps
runs on a shared Redis apart, so nothing is flushed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ragd.adapters.cache.memory import MemoryCache
from ragd.adapters.cache.redis import RedisCache
from ragd.domain.models import TenantId
from ragd.ports.cache import Cache
from tests.services import redis_url


def sentinel_url(request: pytest.FixtureRequest) -> str:
    """The session's private Sentinel (started on first use: tests/private_sentinel.py)."""
    return str(request.getfixturevalue("sentinel_redis_url"))


MakeCache = Callable[..., Cache]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.integration),
        pytest.param("sentinel", id="redis-sentinel", marks=pytest.mark.integration),
    ]
)
def make_cache(request: pytest.FixtureRequest) -> Iterator[MakeCache]:
    """A factory: ``make_cache(ttl_seconds=...)`` builds the adapter under test."""
    closers: list[Callable[[], None]] = []

    def make(ttl_seconds: float = 60.0) -> Cache:
        if request.param == "memory":
            return MemoryCache(ttl_seconds=ttl_seconds, max_size=1000)
        url = redis_url() if request.param == "redis" else sentinel_url(request)
        cache = RedisCache.from_url(url, ttl_seconds=ttl_seconds)
        closers.append(cache.close)
        return cache

    yield make
    for close in closers:
        close()


@pytest.fixture
def cache(make_cache: MakeCache) -> Cache:
    return make_cache()


ANSWER: dict[str, Any] = {
    "answer": "Spring tides come when the sun and the moon are aligned [1].",
    "citations": [{"n": 1, "chunk_id": "c1", "page": None, "supported": True}],
    "score": 0.5,
    "unicode": "Müller – 東京",
}


def test_miss_then_hit(cache: Cache, tenant: TenantId) -> None:
    assert cache.get(tenant, "q1") is None
    cache.set(tenant, "q1", ANSWER)
    assert cache.get(tenant, "q1") == ANSWER
    assert cache.get(tenant, "q2") is None


def test_set_replaces(cache: Cache, tenant: TenantId) -> None:
    cache.set(tenant, "q", {"v": 1})
    cache.set(tenant, "q", {"v": 2})
    assert cache.get(tenant, "q") == {"v": 2}


def test_entries_expire_after_the_ttl(make_cache: MakeCache, tenant: TenantId) -> None:
    cache = make_cache(ttl_seconds=0.3)
    cache.set(tenant, "q", ANSWER)
    assert cache.get(tenant, "q") == ANSWER
    time.sleep(0.45)
    assert cache.get(tenant, "q") is None


def test_ttl_zero_disables_the_cache(make_cache: MakeCache, tenant: TenantId) -> None:
    cache = make_cache(ttl_seconds=0)
    cache.set(tenant, "q", ANSWER)
    assert cache.get(tenant, "q") is None
    cache.invalidate_tenant(tenant)  # a no-op, not an error


def test_tenants_never_see_each_other(cache: Cache, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-other")
    cache.set(tenant, "same-key", {"owner": "mine"})
    cache.set(other, "same-key", {"owner": "theirs"})
    assert cache.get(tenant, "same-key") == {"owner": "mine"}
    assert cache.get(other, "same-key") == {"owner": "theirs"}


def test_separators_in_tenant_and_key_cannot_collide(cache: Cache, tenant: TenantId) -> None:
    # With naive "prefix:tenant:generation:key" keys, tenant "X:0" + key "k" and tenant "X"
    # + key "0:k" would both be "prefix:X:0:0:k" on Redis.
    a, b = TenantId(f"{tenant}:0"), tenant
    cache.set(a, "k", {"owner": "a"})
    assert cache.get(b, "0:k") is None
    cache.set(b, "0:k", {"owner": "b"})
    assert cache.get(a, "k") == {"owner": "a"}
    assert cache.get(b, "0:k") == {"owner": "b"}


def test_invalidate_tenant_drops_only_that_tenant(cache: Cache, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-other")
    for t in (tenant, other):
        cache.set(t, "q1", {"t": t})
        cache.set(t, "q2", {"t": t})
    cache.invalidate_tenant(tenant)
    assert cache.get(tenant, "q1") is None and cache.get(tenant, "q2") is None
    assert cache.get(other, "q1") == {"t": other} and cache.get(other, "q2") == {"t": other}
    cache.set(tenant, "q1", {"fresh": True})  # the cache still works after an invalidation
    assert cache.get(tenant, "q1") == {"fresh": True}
    cache.invalidate_tenant(tenant)
    assert cache.get(tenant, "q1") is None


def test_invalidation_is_seen_by_every_instance(make_cache: MakeCache, tenant: TenantId) -> None:
    # Two instances are two API replicas on Redis. In-process caches are per instance by
    # design; the contract is only that each instance sees its own invalidations.
    writer, reader = make_cache(), make_cache()
    writer.set(tenant, "q", ANSWER)
    if isinstance(writer, MemoryCache):
        assert reader.get(tenant, "q") is None
        return
    assert reader.get(tenant, "q") == ANSWER
    reader.invalidate_tenant(tenant)
    assert writer.get(tenant, "q") is None


def test_values_are_copies(cache: Cache, tenant: TenantId) -> None:
    value: dict[str, Any] = {"answer": "x", "citations": [{"n": 1}]}
    cache.set(tenant, "q", value)
    value["answer"] = "changed after set"
    value["citations"][0]["n"] = 99
    got = cache.get(tenant, "q")
    assert got == {"answer": "x", "citations": [{"n": 1}]}
    assert got is not None
    got["citations"].append({"n": 2})
    assert cache.get(tenant, "q") == {"answer": "x", "citations": [{"n": 1}]}


def test_health_names_the_backend(cache: Cache) -> None:
    assert cache.health()["backend"] in ("memory", "redis")
