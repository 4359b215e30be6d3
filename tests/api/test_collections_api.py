"""Collections, groups, grants, allow-lists and key scopes through the HTTP API.

One tenant with an admin, an editor and two readers. Documents in collection ``hr``,
in ``default`` and one allow-listed to a group carry marker words; every response to a
caller without the right is checked for them, through search, query (and its cache),
chat (model suffix), the collection header, document listing and reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragd.domain.accounts import Role
from ragd.observability import metrics
from tests.api.conftest import make_client

HR = "payroll salaries hrsecretx of the staff and their bonus payments"
OPEN = "payroll office hours opencommonx for everyone who works here"
LEADS = "payroll roadmap leadsonlyx for the team leads and their plans"


class Tenant:
    def __init__(self, client: TestClient) -> None:
        svc = client.app.state.services  # type: ignore[attr-defined]
        self.svc = svc
        self.id = "t" + uuid.uuid4().hex[:10]
        made = svc.account_admin.create_tenant(self.id)
        self.keys = {"admin": made.key.plaintext}
        self.users: dict[str, str] = {}
        self.key_ids: dict[str, str] = {}
        for name, role in (("eve", Role.EDITOR), ("bob", Role.READER), ("cy", Role.READER)):
            user = svc.accounts.create_user(made.tenant.id, name, None, role)
            issued = svc.account_admin.issue_key(made.tenant.id, user.id)
            self.keys[name] = issued.plaintext
            self.users[name] = user.id
            self.key_ids[name] = issued.key.id

    def h(self, who: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who], **extra}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("collections")
    with make_client(data, auth="required", worker_poll_seconds=0.02, cache_ttl_seconds=60) as c:
        yield c


@pytest.fixture(scope="module")
def world(client: TestClient) -> dict[str, Any]:
    t = Tenant(client)
    admin = t.h("admin")
    r = client.post(
        "/api/v1/collections",
        json={"id": "hr", "name": "HR", "settings": {"chunk_size": 256}},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert (
        client.post(
            "/api/v1/groups", json={"id": "leads", "name": "Leads"}, headers=admin
        ).status_code
        == 201
    )
    docs = {}
    for name, body in (
        ("hr", {"text": HR, "collection": "hr"}),
        ("open", {"text": OPEN}),
        ("leads", {"text": LEADS, "readers": ["g:leads"]}),
    ):
        r = client.post(
            "/api/v1/documents", json=body, headers=t.h("eve") if name != "hr" else admin
        )
        assert r.status_code == 202, r.text
        docs[name] = r.json()["id"]
    for doc_id in docs.values():
        assert wait_indexed_as(client, doc_id, admin)["status"] == "indexed"
    return {"t": t, "docs": docs}


def wait_indexed_as(client: TestClient, doc_id: str, headers: dict[str, str]) -> dict[str, Any]:
    import time

    for _ in range(600):
        doc = client.get(f"/api/v1/documents/{doc_id}", headers=headers).json()
        if doc["status"] in ("indexed", "failed"):
            return doc
        time.sleep(0.05)
    return doc


def _search(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    r = client.post(
        "/api/v1/search", json={"query": "payroll", "top_k": 10, **body}, headers=headers
    )
    return r


def test_readers_see_only_readable_collections_and_allow_lists(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    r = _search(client, t.h("bob"))
    assert r.status_code == 200
    assert "opencommonx" in r.text
    assert "hrsecretx" not in r.text and "leadsonlyx" not in r.text
    assert len(r.json()["hits"]) >= 1
    # the admin reads everything
    everything = _search(client, t.h("admin")).text
    assert all(m in everything for m in ("hrsecretx", "opencommonx", "leadsonlyx"))
    # listing and reading obey the same rules, counts included
    listed = client.get("/api/v1/documents", headers=t.h("bob")).json()
    assert {d["id"] for d in listed["documents"]} == {world["docs"]["open"]}
    assert listed["total"] == 1
    assert (
        client.get(f"/api/v1/documents/{world['docs']['hr']}", headers=t.h("bob")).status_code
        == 404
    )
    [default] = client.get("/api/v1/collections", headers=t.h("bob")).json()
    assert default["id"] == "default" and default["documents"] == 1  # not the allow-listed one
    admin_view = {
        c["id"]: c for c in client.get("/api/v1/collections", headers=t.h("admin")).json()
    }
    assert admin_view["default"]["documents"] == 2


def test_a_cached_answer_never_reaches_a_caller_with_fewer_rights(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    question = {"query": "what about payroll salaries bonus?"}
    first = client.post("/api/v1/query", json=question, headers=t.h("admin"))
    assert first.status_code == 200 and "hrsecretx" in first.text
    again = client.post("/api/v1/query", json=question, headers=t.h("admin"))
    assert again.json()["cached"] is True
    bob = client.post("/api/v1/query", json=question, headers=t.h("bob"))
    assert bob.status_code == 200
    assert "hrsecretx" not in bob.text and bob.json()["cached"] is False
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "ragd", "messages": [{"role": "user", "content": question["query"]}]},
        headers=t.h("bob"),
    )
    assert chat.status_code == 200 and "hrsecretx" not in chat.text
    # the query log keeps which rights each question was answered under
    with t.svc.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT user_id, access FROM query_log WHERE tenant_id = ? AND text = ?",
            (t.id, question["query"]),
        ).all()
    rights = {user: access for user, access in rows}  # noqa: C416 - rows are Row pairs
    assert rights[t.users["bob"]] != rights[next(iter(set(rights) - {t.users["bob"]}))]
    assert len(rights[t.users["bob"]]) == 24


def test_a_grant_and_a_membership_take_effect_on_the_next_request(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    cy = t.h("cy")
    assert "hrsecretx" not in _search(client, cy).text
    before = metrics.ACCESS_DENIED.labels("no_grant")._value.get()
    denied = _search(client, cy, collection="hr")
    assert denied.status_code == 404
    assert metrics.ACCESS_DENIED.labels("no_grant")._value.get() == before + 1
    grant = {"principal": f"u:{t.users['cy']}", "level": "read"}
    r = client.put("/api/v1/collections/hr/grants", json=grant, headers=t.h("admin"))
    assert r.status_code == 204, r.text
    assert "hrsecretx" in _search(client, cy).text
    only_hr = _search(client, cy, collection="hr").json()["hits"]
    assert only_hr and {h["document_id"] for h in only_hr} == {world["docs"]["hr"]}
    header = _search(client, {**cy, "X-Ragd-Collection": "hr"}).json()["hits"]
    assert {h["document_id"] for h in header} == {world["docs"]["hr"]}
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "ragd:default", "messages": [{"role": "user", "content": "payroll?"}]},
        headers=cy,
    )
    assert chat.status_code == 200 and "hrsecretx" not in chat.text
    # a reader cannot grant
    assert (
        client.put(
            "/api/v1/collections/hr/grants", json={**grant, "level": "manage"}, headers=cy
        ).status_code
        == 403
    )
    # revoke: gone on the next request
    client.put("/api/v1/collections/hr/grants", json={**grant, "level": None}, headers=t.h("admin"))
    assert "hrsecretx" not in _search(client, cy).text
    # group membership opens the allow-listed document
    assert "leadsonlyx" not in _search(client, cy).text
    r = client.put(f"/api/v1/groups/leads/members/{t.users['cy']}", headers=t.h("admin"))
    assert r.status_code == 204, r.text
    assert "leadsonlyx" in _search(client, cy).text
    audit = client.get("/admin/audit", headers=t.h("admin")).text
    assert "grant.set" in audit and "grant.revoke" in audit and "denied" in audit


def test_a_key_scoped_to_a_collection_reaches_only_it(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    r = client.put(
        f"/api/v1/keys/{t.key_ids['eve']}/collections",
        json={"collections": ["hr"]},
        headers=t.h("admin"),
    )
    assert r.status_code == 204, r.text
    # eve has no grant on hr: her key now reaches nothing
    assert _search(client, t.h("eve")).json()["hits"] == []
    before = metrics.ACCESS_DENIED.labels("key_scope")._value.get()
    assert _search(client, t.h("eve"), collection="default").status_code == 404
    assert metrics.ACCESS_DENIED.labels("key_scope")._value.get() == before + 1
    client.put(
        f"/api/v1/keys/{t.key_ids['eve']}/collections",
        json={"collections": None},
        headers=t.h("admin"),
    )
    assert "opencommonx" in _search(client, t.h("eve")).text


def test_a_rotated_key_keeps_its_collection_limit(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    svc = t.svc
    cy = svc.accounts.get_user(t.id, t.users["cy"])
    issued = svc.account_admin.issue_key(t.id, cy.id, name="hr only")
    r = client.put(
        f"/api/v1/keys/{issued.key.id}/collections",
        json={"collections": ["hr"]},
        headers=t.h("admin"),
    )
    assert r.status_code == 204, r.text
    rotated = client.post(f"/admin/keys/{issued.key.id}/rotate", headers=t.h("admin"))
    assert rotated.status_code == 201, rotated.text
    new = {"X-API-Key": rotated.json()["key"]}
    assert svc.permissions.permissions.key_collections(t.id, rotated.json()["id"]) == ("hr",)
    # cy reads default through her own key, but not through the rotated, limited one
    assert "opencommonx" in _search(client, t.h("cy")).text
    assert "opencommonx" not in _search(client, new).text
    assert _search(client, new, collection="default").status_code == 404
    old = {"X-API-Key": issued.plaintext}
    assert client.get("/api/v1/documents", headers=old).status_code == 401


def test_moving_a_document_and_deleting_a_collection(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    admin = t.h("admin")
    assert (
        client.post(
            "/api/v1/collections", json={"id": "tmp", "name": "Tmp"}, headers=admin
        ).status_code
        == 201
    )
    r = client.post("/api/v1/documents", json={"text": "payroll movingdocx here"}, headers=admin)
    doc = r.json()["id"]
    wait_indexed_as(client, doc, admin)
    assert "movingdocx" in _search(client, t.h("bob")).text
    moved = client.patch(f"/api/v1/documents/{doc}", json={"collection": "tmp"}, headers=admin)
    assert moved.status_code == 200 and moved.json()["collection"] == "tmp"
    assert "movingdocx" not in _search(client, t.h("bob")).text
    assert "movingdocx" in _search(client, admin, collection="tmp").text
    assert client.delete("/api/v1/collections/tmp", headers=admin).status_code == 204
    assert client.get(f"/api/v1/documents/{doc}", headers=admin).status_code == 404
    assert "movingdocx" not in _search(client, admin).text
    assert client.delete("/api/v1/collections/default", headers=admin).status_code == 422


def test_bad_input_is_a_clear_problem(client: TestClient, world: dict[str, Any]) -> None:
    t = world["t"]
    admin = t.h("admin")
    bad = client.post("/api/v1/collections", json={"id": "Bad Id!", "name": "x"}, headers=admin)
    assert bad.status_code == 422 and "collection" in bad.text
    bad = client.post(
        "/api/v1/collections",
        json={"id": "ok", "name": "x", "settings": {"chunk_size": 5}},
        headers=admin,
    )
    assert bad.status_code == 422
    bad = client.post("/api/v1/documents", json={"text": "x", "readers": ["nobody"]}, headers=admin)
    assert bad.status_code == 422 and "principal" in bad.text
    bad = client.post(
        "/api/v1/documents", json={"text": "x", "metadata": {"_ragd_c": "hr"}}, headers=admin
    )
    assert bad.status_code == 422 and "reserved" in bad.text
    assert (
        client.post(
            "/api/v1/collections", json={"id": "x1", "name": "x"}, headers=t.h("bob")
        ).status_code
        == 403
    )


def test_a_shared_conversation_withholds_turns_the_reader_may_not_read(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    admin = t.h("admin")
    conv = client.post("/api/v1/conversations", json={"title": "pay"}, headers=admin).json()["id"]
    asked = client.post(
        "/api/v1/query",
        json={"query": "payroll salaries bonus?", "conversation_id": conv},
        headers=admin,
    )
    assert asked.status_code == 200 and "hrsecretx" in asked.text
    assert (
        client.patch(
            f"/api/v1/conversations/{conv}", json={"shared": True}, headers=admin
        ).status_code
        == 200
    )
    own = client.get(f"/api/v1/conversations/{conv}", headers=admin).text
    assert "hrsecretx" in own
    shared = client.get(f"/api/v1/conversations/{conv}", headers=t.h("bob"))
    assert shared.status_code == 200
    assert "hrsecretx" not in shared.text and "withheld" in shared.text
    assert "payroll salaries bonus?" in shared.text  # the question itself stays


def test_collection_settings_set_chunk_size_and_default_mode(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    admin = t.h("admin")
    body = {
        "id": "small",
        "name": "Small",
        "settings": {"chunk_size": 32, "retrieval_mode": "sparse"},
    }
    assert client.post("/api/v1/collections", json=body, headers=admin).status_code == 201
    text = " ".join(f"sentence number {i} talks about payroll and tides." for i in range(40))
    ids = {}
    for c in ("default", "small"):
        r = client.post(
            "/api/v1/documents",
            json={"text": text, "collection": c, "source": f"long-{c}"},
            headers=admin,
        )
        ids[c] = r.json()["id"]
    chunks = {c: wait_indexed_as(client, i, admin)["chunks"] for c, i in ids.items()}
    assert chunks["small"] > chunks["default"] > 0
    r = _search(client, admin, collection="small")
    assert r.status_code == 200 and r.json()["mode"] == "sparse"
    assert _search(client, admin).json()["mode"] == "hybrid"
    got = client.get("/api/v1/collections/small", headers=admin).json()
    assert got["settings"] == {"chunk_size": 32, "retrieval_mode": "sparse"}
    assert got["documents"] == 1
    patched = client.patch(
        "/api/v1/collections/small", json={"settings": {"retrieval_mode": "dense"}}, headers=admin
    )
    assert patched.status_code == 200 and patched.json()["settings"] == {"retrieval_mode": "dense"}
    assert _search(client, admin, collection="small").json()["mode"] == "dense"


def test_an_upload_never_answers_with_or_replaces_another_collections_document(
    client: TestClient, world: dict[str, Any]
) -> None:
    t = world["t"]
    # eve may write default but not hr: the same text as the hr document is a new document
    r = client.post("/api/v1/documents", json={"text": HR}, headers=t.h("eve"))
    assert r.status_code == 202 and r.json()["id"] != world["docs"]["hr"]
    assert r.json()["collection"] == "default"
    # a source used in another collection is refused, not replaced
    admin = t.h("admin")
    first = client.post(
        "/api/v1/documents",
        json={"text": "one", "source": "same.txt", "collection": "hr"},
        headers=admin,
    )
    assert first.status_code == 202
    again = client.post(
        "/api/v1/documents", json={"text": "two", "source": "same.txt"}, headers=t.h("eve")
    )
    assert again.status_code == 422 and "another collection" in again.text
