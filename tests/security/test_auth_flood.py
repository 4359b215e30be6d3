"""A failed-authentication flood against a live ``ragd serve`` (issue 17, finding 4).

Forty strangers who know a real key's public prefix send random secrets for ten seconds,
on loopback, while a legitimate client searches with that very key. Measured: the
legitimate searches' p95 latency and 503 share, the server's RSS growth (read from the
process, not assumed), /health's latency and the audit rows the flood added.

Before the fix every stranger cost one Argon2 check (19 MiB) and a request slot and wrote
one audit row: RSS grew by hundreds of MB, legitimate searches got 503s, and the audit log
grew by one row per attempt.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from ragd.services.container import build_services, migrate_database
from tests.conftest import make_settings
from tests.live import Server

pytestmark = pytest.mark.slow

STRANGERS = 40
FLOOD_SECONDS = 10.0

FLOOD = r"""
import asyncio, json, secrets, sys, time
import httpx

base, prefix, seconds, strangers = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
counts = {}

async def stranger(client, until):
    while time.monotonic() < until:
        key = f"ragd_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            r = await client.get(base + "/api/v1/documents", headers={"X-API-Key": key})
            status = str(r.status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        counts[status] = counts.get(status, 0) + 1

async def main():
    limits = httpx.Limits(max_connections=strangers, max_keepalive_connections=strangers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        until = time.monotonic() + seconds
        await asyncio.gather(*(stranger(client, until) for _ in range(strangers)))

asyncio.run(main())
print(json.dumps(counts))
"""


def _audit_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def _failures_accounted(db: Path) -> int:
    """Failed authentications the audit log accounts for: one per row, or its count."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT detail FROM audit_log WHERE action = 'auth.failure'")
        return sum(int(json.loads(detail).get("repeated", 1)) for (detail,) in rows)


def test_a_failed_auth_flood_does_not_hurt_legitimate_clients(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, auth="required")
    migrate_database(settings)
    services = build_services(settings)
    try:
        key = services.account_admin.create_tenant("acme").key.plaintext
    finally:
        services.close()
    prefix = key.split("_")[1]
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_CHUNK_TOKENS": "64",
        "RAGD_CHUNK_OVERLAP": "8",
        "RAGD_AUTH": "required",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "warning",
    }
    server = Server(env, tmp_path / "serve.log")
    try:
        legit = httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=30)
        doc = legit.post("/api/v1/documents", json={"text": "Honeybees dance to show food."})
        assert doc.status_code == 202, doc.text
        for _ in range(5):  # warm: the key verified once, the search path loaded
            assert legit.post("/api/v1/search", json={"query": "bees"}).status_code == 200
        proc = psutil.Process(server.proc.pid)
        rss_before = proc.memory_info().rss
        rows_before = _audit_rows(data / "ragd.db")

        peak = {"rss": rss_before, "health": 0.0}
        stop = threading.Event()

        def sample() -> None:
            with httpx.Client(base_url=server.base, timeout=30) as probe:
                while not stop.is_set():
                    peak["rss"] = max(peak["rss"], proc.memory_info().rss)
                    t0 = time.perf_counter()
                    probe.get("/health")
                    peak["health"] = max(peak["health"], time.perf_counter() - t0)
                    time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        flood = subprocess.Popen(
            [sys.executable, "-c", FLOOD, server.base, prefix, str(FLOOD_SECONDS), str(STRANGERS)],
            stdout=subprocess.PIPE,
        )
        time.sleep(0.5)  # let the strangers connect
        latencies: list[float] = []
        statuses: list[int] = []
        deadline = time.monotonic() + FLOOD_SECONDS - 1.0
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            r = legit.post("/api/v1/search", json={"query": "how do bees show food"})
            latencies.append(time.perf_counter() - t0)
            statuses.append(r.status_code)
        out, _ = flood.communicate(timeout=FLOOD_SECONDS + 60)
        stop.set()
        sampler.join(timeout=30)
        strangers = json.loads(out)
        rows_added = _audit_rows(data / "ragd.db") - rows_before
        legit.close()
    finally:
        server.stop()

    # The summaries of the last minute are written when the server stops: nothing is lost.
    accounted = _failures_accounted(data / "ragd.db")
    rows_after_stop = _audit_rows(data / "ragd.db") - rows_before
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    share_503 = statuses.count(503) / len(statuses)
    growth_mb = (peak["rss"] - rss_before) / 2**20
    attempts = sum(strangers.values())
    report = {
        "stranger_requests": strangers,
        "legit_requests": len(statuses),
        "legit_statuses": {s: statuses.count(s) for s in set(statuses)},
        "legit_p95_s": round(p95, 3),
        "legit_503_share": round(share_503, 3),
        "rss_growth_mb": round(growth_mb, 1),
        "health_max_s": round(peak["health"], 3),
        "audit_rows_added": rows_added,
        "audit_rows_after_stop": rows_after_stop,
        "failures_accounted": accounted,
    }
    record_property("flood", json.dumps(report))  # the figures, in the JUnit report too
    assert attempts > STRANGERS, report  # the flood really ran
    assert set(statuses) == {200}, report  # no 503, no 429 for the legitimate key
    assert growth_mb < 200, report
    assert p95 < 1.0, report
    assert peak["health"] < 1.0, report
    assert rows_added <= 10, report  # one or two aggregated rows, not one per attempt
    assert rows_after_stop <= 20 and accounted == attempts, report
