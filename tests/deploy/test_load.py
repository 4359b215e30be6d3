"""The load tests of bench/load against a live `ragd serve` holding the sample corpus.

locust runs headless (4 users, 20 s) and k6 (4 virtual users, 10 s); each passes only if
its own thresholds hold: P95 < 2.5 s, errors < 1 %, no document outside the test's set.
A last locust run is made to fail on purpose (an impossible P95, and the sample corpus not
declared as the test's own), to show that the thresholds do gate the exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.tools import ROOT, run, tool
from tests.live import live_server

pytestmark = [pytest.mark.deploy, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("load-data")
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "DATABASE_URL": "",
        "RAGD_AUTH": "disabled",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
    }


@pytest.fixture(scope="module")
def known_docs(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus, ingested with the CLI: these are documents the test uploaded."""
    ragd = [sys.executable, "-m", "ragd.cli"]
    ingest = run(*ragd, "ingest", "samples/", env=env, timeout=300)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    listing = run(*ragd, "docs", "list", "--json", env=env)
    assert listing.returncode == 0, listing.stderr[-3000:]
    ids = [d["id"] for d in json.loads(listing.stdout)["documents"]]
    assert len(ids) == len(list((ROOT / "samples").iterdir()))
    path = tmp_path_factory.mktemp("load") / "known.json"
    path.write_text(json.dumps(ids))
    return path


@pytest.fixture(scope="module")
def server(
    env: dict[str, str], known_docs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with live_server(env, tmp_path_factory.mktemp("serve") / "serve.log") as base:
        yield base


def locust(
    base: str, known: Path | None, seconds: int, **slo: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **slo}
    if known is not None:
        env["RAGD_LOAD_KNOWN_DOCS"] = str(known)
    else:
        env.pop("RAGD_LOAD_KNOWN_DOCS", None)
    return run(
        tool("locust"), "-f", "bench/load/locustfile.py", "--headless",
        "-u", "4", "-r", "4", "-t", f"{seconds}s", "--host", base, "--only-summary",
        "--stop-timeout", "5",
        env=env, timeout=seconds + 90,
    )  # fmt: skip


def test_locust_meets_the_slo(server: str, known_docs: Path) -> None:
    proc = locust(server, known_docs, 20)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "ragd load SLO:" in out and "cross-tenant 0" in out, out[-4000:]
    assert "SLO FAILED" not in out


def test_k6_meets_the_slo(server: str, tmp_path: Path) -> None:
    # Every document in the server now was put there by this module (the samples, and the
    # locust run's own uploads): those are the test's set.
    listing = httpx.get(f"{server}/api/v1/documents", params={"limit": 500}, timeout=30)
    listing.raise_for_status()
    known_docs = tmp_path / "known.json"
    known_docs.write_text(json.dumps([d["id"] for d in listing.json()["documents"]]))
    proc = run(
        tool("k6"), "run", "--quiet", "--no-color",
        "-e", f"RAGD_URL={server}", "-e", f"RAGD_LOAD_KNOWN_DOCS={known_docs}",
        "-e", "VUS=4", "-e", "DURATION=10s", "bench/load/k6-ragd.js",
        timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_broken_thresholds_fail_the_run(server: str) -> None:
    """Samples not declared as the test's own, and a P95 no server can meet: exit 1."""
    proc = locust(server, None, 5, RAGD_SLO_P95_MS="0.001")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    assert "SLO FAILED: p95" in out
    assert "cross-tenant violation" in out
