"""``/health/detailed`` reports Redis's real state: the shared Redis of the test services
answers, a private redis-server killed mid-test does not. A Redis outage degrades the
report (the cache then misses) but never makes the endpoint answer 503."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.conftest import make_client
from tests.integration.test_redis_outage import PrivateRedis
from tests.services import redis_server_binary, redis_url


def cache_check(data_dir: Path, url: str | None) -> tuple[int, dict[str, Any]]:
    with make_client(data_dir, redis_url=url) as client:
        response = client.get("/health/detailed")
        body = response.json()
        return response.status_code, body


def test_memory_cache_is_reported_as_memory(tmp_path: Path) -> None:
    code, body = cache_check(tmp_path / "data", None)
    assert code == 200 and body["checks"]["cache"]["status"] == "ok"
    assert body["checks"]["cache"]["backend"] == "memory"


def test_the_real_redis_is_pinged(tmp_path: Path) -> None:
    code, body = cache_check(tmp_path / "data", redis_url())
    cache = body["checks"]["cache"]
    assert code == 200 and cache["status"] == "ok" and cache["backend"] == "redis", cache
    assert "latency_ms" in cache


def test_a_stopped_redis_degrades_the_report_not_the_status(tmp_path: Path) -> None:
    server = PrivateRedis(redis_server_binary(), tmp_path)
    server.start()
    try:
        with make_client(tmp_path / "data", redis_url=server.url) as client:
            up = client.get("/health/detailed").json()["checks"]["cache"]
            assert up["status"] == "ok" and up["backend"] == "redis", up
            server.kill()
            response = client.get("/health/detailed")
            body = response.json()
    finally:
        server.kill()
    cache = body["checks"]["cache"]
    assert cache["status"] == "degraded" and cache["backend"] == "redis", cache
    assert cache["error"] and cache["latency_ms"] < 2000, cache
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
