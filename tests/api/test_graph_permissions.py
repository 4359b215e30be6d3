"""The graph modes see only what the caller may read (issues 20 and 23).

The graph's walk reaches chunks through entities, not through the index query that
carries the caller's access filter, so ``graph`` and ``hybrid+graph`` must apply the same
rights to what the walk found: a collection the caller has no grant on, and a document
whose allow-list leaves the caller out, never show, however the question links them.
The tenant admin, who may read everything, finds them with the same questions: the check
can fail. SQLite and Postgres (as the restricted role row-level security applies to).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragd.domain.accounts import Role
from tests.api.conftest import backend_client
from tests.contract.conftest import pg_session_database  # noqa: F401 - the fixture

OPEN = "In a small trial, Aspirin was tested by the Hallbrook Research Group."
SECRET = "Later the Hallbrook Research Group studied Protein Veltrin in mice. Codeword kestrel."
HIDDEN = "Doctor Ivo Penn tested Quorvane on Marlow Cells. Codeword heron."
ONLY_HIDDEN = "Protein Veltrin"
QUESTIONS = (
    "Which drug was tested by the group that studied Protein Veltrin?",
    "What did the Hallbrook Research Group study?",
    "Which drug did Doctor Ivo Penn test on Marlow Cells?",
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("graphperm")
    common: dict[str, object] = {
        "auth": "required",
        "graph_enabled": True,
        "worker_poll_seconds": 0.02,
    }
    with backend_client(request, data, **common) as c:
        yield c


def test_graph_modes_never_show_what_the_caller_may_not_read(client: TestClient) -> None:
    svc = client.app.state.services  # type: ignore[attr-defined]
    made = svc.account_admin.create_tenant("g" + uuid.uuid4().hex[:10])
    admin = {"X-API-Key": made.key.plaintext}
    reader = svc.accounts.create_user(made.tenant.id, "rita", None, Role.READER)
    rita = {"X-API-Key": svc.account_admin.issue_key(made.tenant.id, reader.id).plaintext}
    r = client.post("/api/v1/collections", json={"id": "lab", "name": "Lab"}, headers=admin)
    assert r.status_code == 201, r.text
    ids = {}
    for name, body in (
        ("open", {"text": OPEN}),
        ("secret", {"text": SECRET, "collection": "lab"}),
        ("hidden", {"text": HIDDEN, "readers": [f"u:{made.admin.id}"]}),
    ):
        r = client.post("/api/v1/documents", json={**body, "title": name}, headers=admin)
        assert r.status_code == 202, r.text
        ids[name] = r.json()["id"]
    for i in ids.values():
        doc = wait_indexed_as(client, i, admin)
        assert doc["status"] == "indexed", doc

    # The admin's graph reaches all three documents (once the graph stage has run).
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    while time.monotonic() < deadline and seen != set(ids.values()):
        seen = set()
        for q in QUESTIONS:
            r = client.post(
                "/api/v1/search", json={"query": q, "mode": "graph", "top_k": 10}, headers=admin
            )
            assert r.status_code == 200, r.text
            seen |= {h["document_id"] for h in r.json()["hits"]}
        time.sleep(0.2)
    assert seen == set(ids.values()), seen

    # Nor does the walk travel through what the caller may not read: the question names
    # Protein Veltrin, and the only link from it to the open document's group runs
    # through the two documents the reader may not see.
    r = client.post("/api/v1/search", json={"query": QUESTIONS[0], "mode": "graph"}, headers=rita)
    assert r.status_code == 200, r.text
    assert ids["open"] not in {h["document_id"] for h in r.json()["hits"]}, r.json()
    assert r.json()["relations"] == []
    r = client.post("/api/v1/search", json={"query": QUESTIONS[0], "mode": "graph"}, headers=admin)
    assert ids["open"] in {h["document_id"] for h in r.json()["hits"]}, r.json()

    forbidden = {ids["secret"], ids["hidden"]}
    for q in QUESTIONS:
        for mode in ("graph", "hybrid+graph"):
            r = client.post(
                "/api/v1/search", json={"query": q, "mode": mode, "top_k": 10}, headers=rita
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert not {h["document_id"] for h in body["hits"]} & forbidden, body
            assert "kestrel" not in r.text and "heron" not in r.text
            a = client.post("/api/v1/query", json={"query": q, "mode": mode}, headers=rita)
            assert a.status_code == 200, a.text
            assert "kestrel" not in a.text and "heron" not in a.text
            assert not {c["document_id"] for c in a.json()["citations"]} & forbidden


def wait_indexed_as(
    client: TestClient, document_id: str, headers: dict[str, str], timeout: float = 60.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, object] = client.get(
            f"/api/v1/documents/{document_id}", headers=headers
        ).json()
        if doc["status"] in ("indexed", "failed") or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)
