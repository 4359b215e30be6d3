"""Webhooks end to end: a live ``ragd serve`` (its embedded worker runs the delivery loop)
POSTs signed events to a real HTTP server on loopback.

The receiver checks each signature itself (HMAC-SHA256 over ``t.body``, computed here, not
by ragd's code). Then the receiver goes down while documents are indexed, replaced,
rejected and deleted; ragd retries with backoff, and once the receiver is back every
event arrives exactly once, and each document's events in the order they happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragd.domain.webhooks import verify
from tests.live import Server, free_port

pytestmark = pytest.mark.slow

SECRET = "whsec_test_" + "x" * 24


class Receiver:
    """A webhook receiver on a fixed port that can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hooks/ragd"
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get("X-Ragd-Signature", "")
                parts = dict(p.split("=", 1) for p in header.split(","))
                mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
                fresh = abs(time.time() - int(parts["t"])) < 300
                if not (hmac.compare_digest(mac.hexdigest(), parts["v1"]) and fresh):
                    receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                assert verify(SECRET, header, body, now=int(time.time()))  # ragd's own helper
                event = json.loads(body)
                assert self.headers["X-Ragd-Event-Id"] == event["id"]
                assert self.headers["X-Ragd-Event"] == event["type"]
                receiver.received.append(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None


def _ragd(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(tmp_path),
        "RAGD_AUTH": "required",
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        "RAGD_WEBHOOK_ALLOW_PRIVATE_URLS": "true",  # the receiver is on loopback
        "RAGD_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "RAGD_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "RAGD_WEBHOOK_MAX_ATTEMPTS": "100",
        "RAGD_WEBHOOK_TIMEOUT_SECONDS": "2",
        "LOG_LEVEL": "warning",
    }
    key = _ragd(["admin", "create-tenant", "acme"], env)["key"]
    server = Server(env, tmp_path / "serve.log")
    try:
        yield server.base, {"X-API-Key": key}, env
    finally:
        server.stop()


def _wait(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_signed_events_survive_a_receiver_outage_exactly_once_in_order(
    live: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    base, auth, _env = live
    receiver = Receiver(free_port())
    receiver.start()
    c = httpx.Client(base_url=base, headers=auth, timeout=30)
    r = c.post(
        "/api/v1/webhooks",
        json={
            "url": receiver.url,
            "events": ["document.indexed", "document.failed", "document.deleted"],
            "secret": SECRET,
        },
    )
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert r.json()["secret"] == SECRET
    assert "secret" not in c.get(f"/api/v1/webhooks/{sub_id}").json() or (
        c.get(f"/api/v1/webhooks/{sub_id}").json()["secret"] is None
    )

    def indexed(doc_id: str) -> bool:
        return c.get(f"/api/v1/documents/{doc_id}").json()["status"] in ("indexed", "failed")

    a = c.post("/api/v1/documents", json={"text": "Alpha facts.", "source": "a.txt"}).json()["id"]
    _wait(lambda: len(receiver.received) == 1, "the first event")
    assert receiver.received[0]["type"] == "document.indexed"
    assert receiver.received[0]["data"]["document_id"] == a

    receiver.stop()  # the receiver is down from here on
    b = c.post("/api/v1/documents", json={"text": "Bravo one.", "source": "b.txt"}).json()["id"]
    _wait(lambda: indexed(b), "b indexed")
    assert (
        c.post("/api/v1/documents", json={"text": "Bravo two.", "source": "b.txt"}).json()["id"]
        == b
    )  # replaced: a second indexed event for b
    time.sleep(0.3)
    _wait(lambda: indexed(b), "b indexed again")
    bad = c.post(
        "/api/v1/documents",
        files={"file": ("tool.bin", b"\x7fELF\x02\x01" + bytes(range(256)), "application/x-elf")},
    )
    assert bad.status_code in (415, 422), bad.text
    failed = bad.json()["document_id"]
    assert c.delete(f"/api/v1/documents/{a}").status_code == 204
    assert c.delete(f"/api/v1/documents/{b}").status_code == 204

    # Attempts fail while the receiver is down; the log says so.
    def retried() -> bool:
        log = c.get("/api/v1/webhooks/deliveries", params={"state": "pending"}).json()
        return any(d["attempts"] >= 2 and d["last_error"] for d in log["deliveries"])

    _wait(retried, "failed attempts recorded while the receiver is down")
    assert len(receiver.received) == 1

    receiver.start()
    log: list[dict[str, Any]] = []

    def all_delivered() -> bool:
        nonlocal log
        log = c.get("/api/v1/webhooks/deliveries", params={"limit": 500}).json()["deliveries"]
        return all(d["state"] == "delivered" for d in log)

    _wait(all_delivered, "every delivery delivered after the receiver came back")
    ids = [e["id"] for e in receiver.received]
    assert len(ids) == len(set(ids)) == len(log), "each event exactly once"
    assert receiver.bad_signatures == 0
    expected: dict[str, list[str]] = {}
    for d in sorted(log, key=lambda d: d["id"]):  # the order the events were written
        expected.setdefault(d["subject"], []).append(d["event_id"])
    got: dict[str, list[str]] = {}
    for e in receiver.received:
        got.setdefault(e["data"]["document_id"], []).append(e["id"])
    assert got == expected, "each document's events in order"
    kinds = {
        doc: [e["type"] for e in receiver.received if e["data"]["document_id"] == doc]
        for doc in (a, b, failed)
    }
    assert kinds[a] == ["document.indexed", "document.deleted"]
    assert kinds[b] == ["document.indexed", "document.indexed", "document.deleted"]
    assert kinds[failed] == ["document.failed"]
    assert max(d["attempts"] for d in log) >= 2


def test_webhook_api_refuses_private_urls_by_default_and_is_for_admins(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(tmp_path),
        "RAGD_AUTH": "required",
        "EMBEDDING_MODEL": "hashing-64",
        "LOG_LEVEL": "warning",
    }
    admin = _ragd(["admin", "create-tenant", "acme"], env)["key"]
    args = ["admin", "create-user", "--tenant", "acme", "--name", "rita", "--role", "reader"]
    r = subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    reader = json.loads(r.stdout)["key"]
    server = Server(env, tmp_path / "serve.log")
    try:
        for url in (
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.7/hook",
            "http://[::1]/x",
            "http://localhost/x",
            "ftp://example.com/x",
            "http://user:pw@example.com/x",
        ):
            r = httpx.post(
                server.base + "/api/v1/webhooks",
                json={"url": url, "events": ["document.indexed"]},
                headers={"X-API-Key": admin},
            )
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        r = httpx.post(
            server.base + "/api/v1/webhooks",
            json={"url": "http://example.com/x", "events": ["document.nope"]},
            headers={"X-API-Key": admin},
        )
        assert r.status_code == 422
        r = httpx.get(server.base + "/api/v1/webhooks", headers={"X-API-Key": reader})
        assert r.status_code == 403
    finally:
        server.stop()
