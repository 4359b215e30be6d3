"""JSON request logs carry who, what and how long; secrets are redacted on the way out."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from ragd.observability.logging import configure_logging
from tests.api.conftest import BEES, make_client


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After capsys, so the handler writes to the captured stderr."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", "json")
    yield
    root.handlers, root.level = saved
    structlog.reset_defaults()


def test_request_lines_are_json_with_the_request_context(
    tmp_path: Path, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_client(tmp_path / "d", auth="required") as c:
        svc = c.app.state.services  # type: ignore[attr-defined]
        key = svc.account_admin.create_tenant("acme").key.plaintext
        h = {"X-API-Key": key, "X-Request-ID": "req-log-1"}
        doc = c.post("/api/v1/documents", json={"text": BEES}, headers=h).json()["id"]
        wait_indexed_with(c, doc, h)
        c.post(
            "/api/v1/search", json={"query": "waggle"}, headers={**h, "X-Request-ID": "req-log-2"}
        )
        logging.getLogger("ragd.test").warning("leaked %s and Bearer abcdefghijklmnop", key)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [e for e in lines if e.get("event") == "request"]
    search = next(e for e in requests if e["request_id"] == "req-log-2")
    assert search["tenant_id"] == "acme" and search["user_id"]
    assert search["endpoint"] == "/api/v1/search" and search["status"] == 200
    assert search["duration_ms"] > 0 and search["docs_retrieved"] >= 1
    assert {"timestamp", "level", "logger"} <= set(search)
    leak = next(e for e in lines if e.get("logger") == "ragd.test")
    assert key not in leak["event"] and "abcdefghijklmnop" not in leak["event"]
    assert "[redacted]" in leak["event"]


def wait_indexed_with(client, doc: str, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/documents/{doc}", headers=headers).json()["status"] != "indexed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
