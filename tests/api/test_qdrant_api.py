"""The HTTP API on the Qdrant index (local mode on disk, embedded worker with its sync):
an upload becomes searchable, a delete disappears at once, and /metrics and
/health/detailed report the outbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.conftest import BEES, TIDES, make_client, wait_indexed

pytest.importorskip("qdrant_client")


def _sources(client, query: str, mode: str) -> set[str]:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/search", json={"query": query, "mode": mode, "top_k": 10})
    assert r.status_code == 200, r.text
    return {h["document_id"] for h in r.json()["hits"]}


def test_upload_search_delete_on_qdrant(tmp_path: Path) -> None:
    with make_client(tmp_path / "data", vector_store_type="qdrant", auth="disabled") as client:
        bees = client.post("/api/v1/documents", json={"text": BEES, "title": "Bees"}).json()
        tides = client.post("/api/v1/documents", json={"text": TIDES, "title": "Tides"}).json()
        for doc in (bees, tides):
            assert wait_indexed(client, doc["id"])["status"] == "indexed"
        for mode in ("hybrid", "dense", "sparse"):
            # indexed in the Store, and applied by the embedded worker's sync moments later
            for _ in range(100):
                if bees["id"] in _sources(client, "waggle dance distance", mode):
                    break
                time.sleep(0.05)
            assert bees["id"] in _sources(client, "waggle dance distance", mode), mode

        assert client.delete(f"/api/v1/documents/{bees['id']}").status_code in (200, 204)
        for mode in ("hybrid", "dense", "sparse"):
            assert bees["id"] not in _sources(client, "waggle dance distance", mode), mode

        detail = client.get("/health/detailed").json()
        assert detail["checks"]["index"]["backend"] == "qdrant"
        assert "outbox_backlog" in detail["checks"]["index"]
        assert client.get("/ready").status_code == 200
