"""What operators' guides grep the JSON log for, on a live ``ragd serve``.

The lines the guides' commands expect, run here as they are written (copied from
../shared/guides/004_62bd2ba3a8682a89.txt, "Compliance and Audit" and "Cross-Tenant
Leakage"; the guide greps ``kubectl logs``, which is the process's stderr):

    kubectl logs -n genai-platform deployment/genai-api | grep "audit" | jq .
    kubectl logs -n genai-platform deployment/genai-api | grep "cost_event" | jq '.amount'
    kubectl logs -n genai-platform deployment/genai-api | grep cross_tenant

and the client's address behind an ingress: with ``FORWARDED_ALLOW_IPS`` trusting the
proxy, the audit entry holds the address in ``X-Forwarded-For``; without it, the peer's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.tools import run
from tests.live import live_server

pytestmark = [pytest.mark.slow]


def ragd(env: dict[str, str], *args: str) -> str:
    proc = run(sys.executable, "-m", "ragd.cli", *args, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def grep(log: Path, word: str) -> list[dict[str, Any]]:
    """``grep word | jq .``: every matching line must be one JSON object."""
    return [json.loads(line) for line in log.read_text().splitlines() if word in line]


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    return {
        **env,
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "RAGD_AUTH": "required",
        "EMBEDDING_MODEL": "hashing-64",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "RAGD_LLM_PRICES": '{"ragd-extractive": {"input": 1.0, "output": 3.0}}',
        **extra,
    }


def test_audit_cross_tenant_and_cost_lines_with_the_clients_ip(tmp_path: Path) -> None:
    env = environment(tmp_path, FORWARDED_ALLOW_IPS="*")
    key_a = json.loads(ragd(env, "admin", "create-tenant", "a"))["key"]
    key_b = json.loads(ragd(env, "admin", "create-tenant", "b"))["key"]
    log = tmp_path / "serve.log"
    with live_server(env, log) as base:
        a = {"X-API-Key": key_a, "X-Forwarded-For": "198.51.100.7"}
        doc = httpx.post(f"{base}/api/v1/documents", json={"text": "Tides follow the moon."},
                         headers=a).json()["id"]  # fmt: skip
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/v1/documents/{doc}", headers=a).json()["status"] != "indexed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        probe = httpx.get(f"{base}/api/v1/documents/{doc}",
                          headers={"X-API-Key": key_b, "X-Forwarded-For": "203.0.113.9"})  # fmt: skip
        assert probe.status_code == 404
        bad = httpx.get(f"{base}/api/v1/documents",
                        headers={"X-API-Key": "ragd_000000_nope-nope-nope", "X-Forwarded-For": "192.0.2.1"})  # fmt: skip
        assert bad.status_code == 401
        answer = httpx.post(f"{base}/api/v1/query", json={"query": "What do tides follow?"},
                            headers=a, timeout=30)  # fmt: skip
        assert answer.status_code == 200, answer.text

    costs = grep(log, "cost_event")
    assert len(costs) == 1 and costs[0]["amount"] > 0 and costs[0]["currency"] == "USD"
    assert costs[0]["amount"] == costs[0]["cost_usd"]
    # One probe, audited in both tenants (the prober's, and the owner's so its admins see it).
    probes = grep(log, "cross_tenant")
    assert [p["client_ip"] for p in probes] == ["203.0.113.9"] * 2
    assert all(p["outcome"] == "denied" and p["resource"] == doc for p in probes)
    assert len({p["tenant_id"] for p in probes}) == 2
    audits = grep(log, "audit")
    actions = {e["action"]: e for e in audits if e.get("event") == "audit"}
    assert {"document.cross_tenant_attempt", "auth.failure"} <= set(actions)
    assert actions["auth.failure"]["client_ip"] == "192.0.2.1"
    assert all("timestamp" in e and "tenant_id" in e for e in audits)
    assert key_a not in log.read_text() and key_b not in log.read_text()


def test_forwarded_addresses_are_ignored_from_untrusted_peers(tmp_path: Path) -> None:
    env = environment(tmp_path, FORWARDED_ALLOW_IPS="10.9.9.9")  # not the test's address
    log = tmp_path / "serve.log"
    with live_server(env, log) as base:
        bad = httpx.get(f"{base}/api/v1/documents",
                        headers={"X-API-Key": "ragd_000000_nope-nope-nope", "X-Forwarded-For": "192.0.2.1"})  # fmt: skip
        assert bad.status_code == 401
    (failure,) = [e for e in grep(log, "audit") if e.get("action") == "auth.failure"]
    assert failure["client_ip"] == "127.0.0.1"
