"""Redis outages, for real: the cache and the limiter against a throw-away redis-server that
the test starts, kills (SIGKILL), freezes (SIGSTOP) and starts again, plus a port where
nothing listens. Nothing is mocked: the adapters, redis-py and the server are the real ones.

What must hold: no call raises; cache calls are misses/no-ops; the limiter lets calls
through when fail-open and refuses them when fail-closed; every such call is counted; the
warning says what failed but never shows a cached value; and both adapters work again, by
themselves, once Redis is back.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import REGISTRY

from ragd.adapters.cache.redis import RedisCache
from ragd.adapters.limiter.redis import RedisLimiter
from ragd.adapters.redis_support import connect
from ragd.domain.models import TenantId
from tests.services import redis_server_binary

RETRY = 0.1  # the adapters' retry interval in these tests (production default: 1 s)
SECRET = "value-that-must-never-be-logged"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


class PrivateRedis:
    """A redis-server of this test only, on a free loopback port, without persistence."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        probe = connect(self.url, socket_timeout=0.2)  # no retries with backoff

        def answers() -> bool:
            try:
                return bool(probe.ping())
            except redis.RedisError:
                return False

        try:
            if not wait_until(answers):
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.kill()
                pytest.fail(f"private redis-server did not start on {self.port}:\n{log}")
        finally:
            probe.close()

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown; the data is gone (no persistence)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a hung host)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    srv = PrivateRedis(redis_server_binary(), tmp_path)
    srv.start()
    yield srv
    if srv.proc is not None:
        srv.thaw()
        srv.kill()


def cache_works(cache: RedisCache, tenant: TenantId) -> bool:
    cache.set(tenant, "probe", {"ok": True})
    return cache.get(tenant, "probe") == {"ok": True}


@pytest.mark.integration
def test_cache_survives_a_crash_and_recovers(
    server: PrivateRedis, tenant: TenantId, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache.from_url(server.url, ttl_seconds=60, retry_interval_seconds=RETRY)
    cache.set(tenant, "q", {"answer": SECRET})
    assert cache.get(tenant, "q") == {"answer": SECRET}
    errors_before = metric("ragd_cache_errors_total", operation="get")

    server.kill()
    with caplog.at_level(logging.WARNING, logger="ragd.adapters.cache.redis"):
        t0 = time.monotonic()
        assert cache.get(tenant, "q") is None  # a miss, not an exception
        cache.set(tenant, "q", {"answer": SECRET})
        cache.invalidate_tenant(tenant)
        assert cache.get(tenant, "q") is None
        assert time.monotonic() - t0 < 1.0
    assert metric("ragd_cache_errors_total", operation="get") >= errors_before + 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate-limited: one line for the whole outage so far
    assert "redis cache unavailable" in caplog.text and "ConnectionError" in caplog.text
    assert SECRET not in caplog.text

    server.start()  # a fresh, empty server on the same port
    assert wait_until(lambda: cache_works(cache, tenant)), "the cache did not recover"
    assert cache.get(tenant, "q") is None  # the old server's data died with it
    assert "is back" in caplog.text


@pytest.mark.integration
@pytest.mark.parametrize("fail_open", [True, False], ids=["fail-open", "fail-closed"])
def test_limiter_outage_follows_its_policy_and_recovers(
    server: PrivateRedis, tenant: TenantId, fail_open: bool
) -> None:
    limiter = RedisLimiter.from_url(server.url, fail_open=fail_open, retry_interval_seconds=RETRY)
    kw = {"limit": 1, "window_seconds": 60.0}
    assert limiter.hit(tenant, "k", **kw).allowed
    assert not limiter.hit(tenant, "k", **kw).allowed  # Redis enforces the budget
    outcome = "fail_open" if fail_open else "fail_closed"
    errors_before = metric("ragd_limiter_errors_total", outcome=outcome)

    server.kill()
    during = [limiter.hit(tenant, "other", **kw) for _ in range(3)]
    assert all(d.allowed is fail_open for d in during)
    if not fail_open:
        assert all(d.retry_after_seconds > 0 for d in during)
    assert metric("ragd_limiter_errors_total", outcome=outcome) == errors_before + 3

    server.start()  # empty: the Lua script must be loaded again, and budgets start full

    def enforced() -> bool:
        first = limiter.hit(tenant, "after", **kw)
        return first.allowed and not limiter.hit(tenant, "after", **kw).allowed

    assert wait_until(enforced), "the limiter did not go back to Redis"


@pytest.mark.integration
def test_a_hung_redis_costs_a_short_timeout_then_nothing(
    server: PrivateRedis, tenant: TenantId
) -> None:
    cache = RedisCache.from_url(server.url, ttl_seconds=60, retry_interval_seconds=5.0)
    limiter = RedisLimiter.from_url(server.url, retry_interval_seconds=5.0)
    assert cache_works(cache, tenant)
    assert limiter.hit(tenant, "k", limit=5, window_seconds=60).allowed

    server.freeze()
    t0 = time.monotonic()
    assert cache.get(tenant, "probe") is None
    assert limiter.hit(tenant, "k", limit=5, window_seconds=60).allowed  # fail-open
    first = time.monotonic() - t0
    assert first < 2.0  # 0.25 s socket timeout (+ one retry) per adapter, not redis-py's 3
    t0 = time.monotonic()
    for _ in range(200):  # the breaker is open: no socket I/O at all
        assert cache.get(tenant, "probe") is None
        assert limiter.hit(tenant, "k", limit=5, window_seconds=60).allowed
    assert time.monotonic() - t0 < 0.5

    server.thaw()
    fresh = RedisCache.from_url(server.url, ttl_seconds=60)  # Redis itself is fine again
    assert cache_works(fresh, tenant)
    fresh.close()


def test_nothing_listening_is_an_outage_not_an_error(tenant: TenantId) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # a port nobody listens on
    cache = RedisCache.from_url(url, ttl_seconds=60, retry_interval_seconds=RETRY)
    t0 = time.monotonic()
    cache.set(tenant, "q", {"answer": SECRET})
    assert cache.get(tenant, "q") is None
    cache.invalidate_tenant(tenant)
    opened = RedisLimiter.from_url(url, fail_open=True).hit(tenant, "k", limit=1, window_seconds=1)
    closed = RedisLimiter.from_url(url, fail_open=False).hit(tenant, "k", limit=1, window_seconds=1)
    assert opened.allowed
    assert not closed.allowed and closed.retry_after_seconds > 0
    assert time.monotonic() - t0 < 2.0


@pytest.mark.integration
def test_the_api_keeps_answering_when_redis_dies(server: PrivateRedis, tmp_path: Path) -> None:
    """The whole service, not just the adapters: with the cache and rate limits on Redis,
    killing Redis costs nothing but the cache; queries, searches and uploads still succeed
    (rate limiting fails open by default), and the cache is used again once Redis is back."""
    from fastapi.testclient import TestClient

    from ragd.api.app import create_app
    from tests.api.conftest import wait_indexed
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path / "data",
        redis_url=server.url,
        rate_limit_requests_per_minute=600,
        auth="required",
        secret_key="test-jwt-secret-0123456789abcdef0123",
    )
    question = {"query": "How do honeybees tell nest mates where flowers are?"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        admin = client.app.state.services.account_admin  # type: ignore[attr-defined]
        client.headers["X-API-Key"] = admin.create_tenant("acme").key.plaintext
        doc = client.post(
            "/api/v1/documents",
            json={"text": "Honeybees perform a waggle dance to show nest mates where flowers are."},
        ).json()
        assert wait_indexed(client, doc["id"])["status"] == "indexed"
        first = client.post("/api/v1/query", json=question)
        assert first.status_code == 200 and first.json()["citations"]
        cache_errors = metric("ragd_cache_errors_total", operation="get")
        limiter_errors = sum(
            metric("ragd_limiter_errors_total", outcome=o) for o in ("fail_open", "fail_closed")
        )

        server.kill()
        t0 = time.monotonic()
        for _ in range(5):
            r = client.post("/api/v1/query", json=question)
            assert r.status_code == 200, r.text
            assert r.json()["answer"] == first.json()["answer"]
        assert client.post("/api/v1/search", json=question).status_code == 200
        again = client.post("/api/v1/documents", json={"text": "Ants follow pheromone trails."})
        assert again.status_code == 202, again.text
        assert time.monotonic() - t0 < 10  # no request waits out long Redis timeouts
        assert metric("ragd_cache_errors_total", operation="get") > cache_errors
        assert metric("ragd_limiter_errors_total", outcome="fail_open") > limiter_errors

        server.start()
        assert wait_until(
            lambda: (
                client.post("/api/v1/query", json=question).status_code == 200
                and redis.Redis.from_url(server.url).dbsize() > 0
            ),
            timeout=10,
        ), "the cache was not used again after Redis came back"
