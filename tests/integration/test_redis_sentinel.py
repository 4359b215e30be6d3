"""ragd's Redis client through Sentinel, for real: ``REDIS_URL=redis+sentinel://...`` with
``REDIS_PASSWORD`` merged in (as ``deploy/k8s/components/redis-sentinel`` and Helm's
``redisSentinel.enabled`` configure it), against a master, a replica and a Sentinel that
the test starts (tests/private_sentinel.py). The cache and the limiter follow a failover to
the new master by themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.adapters.cache import redis as redis_cache
from ragd.adapters.limiter import redis as redis_limiter
from ragd.config import Settings
from ragd.config.audit import Variable, audit
from ragd.domain.models import TenantId
from tests.private_sentinel import MASTER, PASSWORD, PrivateSentinel
from tests.services import redis_server_binary

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[PrivateSentinel]:
    srv = PrivateSentinel(redis_server_binary(), tmp_path, replicas=1)
    srv.start()
    yield srv
    srv.stop()


def settings_for(srv: PrivateSentinel, **extra: str) -> tuple[Settings, dict[str, Variable]]:
    """Settings as a deployment sets them: the URL without its password, and the password
    in REDIS_PASSWORD (from the Secret)."""
    env = {
        "REDIS_URL": f"redis+sentinel://127.0.0.1:{srv.sentinel_port}/{MASTER}/0",
        "REDIS_PASSWORD": PASSWORD,
        "ENVIRONMENT": "production",
        **extra,
    }
    raw = {k: Variable(v, "environment") for k, v in env.items()}
    settings = Settings(
        redis_url=env["REDIS_URL"], redis_password=env["REDIS_PASSWORD"], environment="production"
    )
    return settings, raw


def test_the_audit_accepts_the_sentinel_url_and_merges_the_password(
    sentinel: PrivateSentinel,
) -> None:
    settings, raw = settings_for(sentinel)
    report = audit(settings, raw)
    assert report.errors == []
    assert settings.storage.redis_url == sentinel.url


def test_cache_and_limiter_work_through_the_sentinel_and_follow_a_failover(
    sentinel: PrivateSentinel, tenant: TenantId
) -> None:
    settings, _ = settings_for(sentinel)
    cache = redis_cache.RedisCache.from_url(
        settings.storage.redis_url or "", ttl_seconds=60, retry_interval_seconds=0.1
    )
    limiter = redis_limiter.RedisLimiter.from_url(
        settings.storage.redis_url or "", retry_interval_seconds=0.1
    )
    try:
        cache.set(tenant, "q", {"v": 1})
        assert cache.get(tenant, "q") == {"v": 1}
        assert limiter.hit(tenant, "k", limit=2, window_seconds=60).allowed
        first = sentinel.master_port()

        assert sentinel.failover() != first

        def cache_works() -> bool:
            cache.set(tenant, "after", {"v": 2})
            return cache.get(tenant, "after") == {"v": 2}

        assert sentinel.wait(cache_works, 10), "the cache did not reach the new master"
        # The limiter's budget lives on the new master: writes succeed there.
        assert sentinel.wait(
            lambda: limiter.hit(tenant, "k2", limit=1, window_seconds=60).remaining == 0, 10
        )
        assert not limiter.hit(tenant, "k2", limit=1, window_seconds=60).allowed
    finally:
        cache.close()
        limiter.close()


def test_a_wrong_password_degrades_like_an_outage(
    sentinel: PrivateSentinel, tenant: TenantId
) -> None:
    url = f"redis+sentinel://:wrong-password@127.0.0.1:{sentinel.sentinel_port}/{MASTER}/0"
    cache = redis_cache.RedisCache.from_url(url, ttl_seconds=60)
    limiter = redis_limiter.RedisLimiter.from_url(url, fail_open=False)
    try:
        cache.set(tenant, "q", {"v": 1})  # no raise
        assert cache.get(tenant, "q") is None
        assert not limiter.hit(tenant, "k", limit=5, window_seconds=60).allowed  # fail-closed
    finally:
        cache.close()
        limiter.close()


def test_a_sentinel_that_is_gone_is_an_outage_not_a_hang(tmp_path: Path, tenant: TenantId) -> None:
    from tests.private_sentinel import free_port

    url = f"redis+sentinel://:{PASSWORD}@127.0.0.1:{free_port()}/{MASTER}/0"
    cache = redis_cache.RedisCache.from_url(url, ttl_seconds=60)
    try:
        assert cache.get(tenant, "q") is None
    finally:
        cache.close()
