"""Stored conversations, feedback and analytics over HTTP, on SQLite and on Postgres.

One app per backend (auth required, embedded worker); each test makes its own tenants and
users, so tests do not see each other's rows. On Postgres ragd connects as a role that
row-level security applies to (tests/contract/conftest.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx_sse import connect_sse

from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from tests.api.conftest import BEES, TIDES, backend_client, wait_indexed
from tests.contract.conftest import pg_session_database  # noqa: F401 - the fixture

NONSENSE = "Zyxqv wombat saxophone?"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("conversations")
    common: dict[str, object] = {"auth": "required", "similarity_threshold": 0.25}
    with backend_client(request, data, **common) as c:
        yield c


@dataclass
class Tenant:
    id: str
    admin: dict[str, str]
    alice: dict[str, str]
    bob: dict[str, str]
    alice_id: str
    bob_id: str


def new_tenant(client: TestClient, *, documents: bool = True) -> Tenant:
    svc = client.app.state.services  # type: ignore[attr-defined]
    tid = "t" + uuid.uuid4().hex[:10]
    created = svc.account_admin.create_tenant(tid)
    keys: dict[str, dict[str, str]] = {}
    ids: dict[str, str] = {}
    for name in ("alice", "bob"):
        user = svc.accounts.create_user(TenantId(tid), name, None, Role.READER)
        key = svc.account_admin.issue_key(TenantId(tid), user.id).plaintext
        keys[name], ids[name] = {"X-API-Key": key}, user.id
    admin = {"X-API-Key": created.key.plaintext}
    if documents:
        for text, title in ((BEES, "Bees"), (TIDES, "Tides")):
            r = client.post("/api/v1/documents", json={"text": text, "title": title}, headers=admin)
            assert r.status_code == 202, r.text
            client.headers.update(admin)
            try:
                assert wait_indexed(client, r.json()["id"])["status"] == "indexed"
            finally:
                del client.headers["X-API-Key"]
    return Tenant(tid, admin, keys["alice"], keys["bob"], ids["alice"], ids["bob"])


def ask(client: TestClient, headers: dict[str, str], query: str, conv: str | None = None) -> dict:
    body: dict[str, object] = {"query": query}
    if conv is not None:
        body["conversation_id"] = conv
    r = client.post("/api/v1/query", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_conversation_is_stored_resumed_renamed_and_deleted(client: TestClient) -> None:
    t = new_tenant(client)
    conv = client.post("/api/v1/conversations", json={}, headers=t.alice).json()
    assert conv["title"] == "" and conv["turns"] == 0 and conv["owned"] is True
    first = ask(client, t.alice, "What do Honeybees perform to tell nest mates?", conv["id"])
    assert first["conversation_id"] == conv["id"] and first["answer_id"]
    assert first["search_query"] == "What do Honeybees perform to tell nest mates?"
    # The follow-up's pronoun is resolved from the stored first turn, not sent by the client.
    second = ask(client, t.alice, "What does the duration of their run encode?", conv["id"])
    assert "Honeybees" in second["search_query"]
    assert second["search_query"] != "What does the duration of their run encode?"
    assert "distance" in second["answer"]

    listed = client.get("/api/v1/conversations", headers=t.alice).json()["conversations"]
    assert [c["id"] for c in listed] == [conv["id"]]
    assert listed[0]["turns"] == 2
    assert listed[0]["title"] == "What do Honeybees perform to tell nest mates?"  # first question
    detail = client.get(f"/api/v1/conversations/{conv['id']}", headers=t.alice).json()
    assert [m["question"] for m in detail["messages"]] == [
        "What do Honeybees perform to tell nest mates?",
        "What does the duration of their run encode?",
    ]
    turn = detail["messages"][1]
    assert turn["answer_id"] == second["answer_id"]
    assert turn["search_query"] == second["search_query"]
    assert turn["result"]["answer"] == second["answer"]
    assert turn["result"]["passages"] and turn["result"]["citations"]
    assert turn["result"]["citations"][0]["chunk_id"] == second["citations"][0]["chunk_id"]

    renamed = client.patch(
        f"/api/v1/conversations/{conv['id']}", json={"title": "  Bee   dances "}, headers=t.alice
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Bee dances"
    bad = client.patch(
        f"/api/v1/conversations/{conv['id']}", json={"title": "x" * 201}, headers=t.alice
    )
    assert bad.status_code == 422
    typo = client.patch(f"/api/v1/conversations/{conv['id']}", json={"titel": "x"}, headers=t.alice)
    assert typo.status_code == 422

    assert client.delete(f"/api/v1/conversations/{conv['id']}", headers=t.alice).status_code == 204
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=t.alice).status_code == 404
    gone = client.post(
        f"/api/v1/answers/{second['answer_id']}/feedback", json={"rating": "up"}, headers=t.alice
    )
    assert gone.status_code == 404  # the turns went with the conversation
    resumed = client.post(
        "/api/v1/query", json={"query": "and then?", "conversation_id": conv["id"]}, headers=t.alice
    )
    assert resumed.status_code == 404


def test_sharing_is_read_only_and_stays_inside_the_tenant(client: TestClient) -> None:
    t, other = new_tenant(client), new_tenant(client, documents=False)
    conv = client.post("/api/v1/conversations", json={"title": "Tides"}, headers=t.alice).json()
    answer = ask(client, t.alice, "What causes tides?", conv["id"])
    url = f"/api/v1/conversations/{conv['id']}"
    feedback = f"/api/v1/answers/{answer['answer_id']}/feedback"

    # Not shared: Bob cannot see it, nor rate its answer; nobody outside the tenant can.
    assert client.get(url, headers=t.bob).status_code == 404
    assert client.post(feedback, json={"rating": "up"}, headers=t.bob).status_code == 404
    assert client.get("/api/v1/conversations?shared=true", headers=t.bob).json() == {
        "conversations": [],
        "limit": 50,
        "offset": 0,
    }

    shared = client.patch(url, json={"shared": True}, headers=t.alice)
    assert shared.status_code == 200 and shared.json()["shared"] is True
    seen = client.get(url, headers=t.bob)
    assert seen.status_code == 200 and seen.json()["owned"] is False
    assert seen.json()["messages"][0]["result"]["answer"] == answer["answer"]
    listed = client.get("/api/v1/conversations?shared=true", headers=t.bob).json()
    assert [c["id"] for c in listed["conversations"]] == [conv["id"]]
    assert client.get("/api/v1/conversations", headers=t.bob).json()["conversations"] == []
    # Read-only for everyone but Alice.
    assert client.patch(url, json={"title": "mine"}, headers=t.bob).status_code == 403
    assert client.delete(url, headers=t.bob).status_code == 403
    r = client.post(
        "/api/v1/query", json={"query": "more?", "conversation_id": conv["id"]}, headers=t.bob
    )
    assert r.status_code == 403
    assert client.post(feedback, json={"rating": "up"}, headers=t.bob).status_code == 201
    # Another tenant: not even a shared conversation exists for it.
    assert client.get(url, headers=other.admin).status_code == 404
    assert client.get(url, headers=other.alice).status_code == 404
    assert client.post(feedback, json={"rating": "down"}, headers=other.alice).status_code == 404
    assert client.delete(url, headers=other.admin).status_code == 404
    assert client.get(url, headers=t.alice).json()["title"] == "Tides"


def test_feedback_and_analytics(client: TestClient) -> None:
    t = new_tenant(client)
    good = ask(client, t.alice, "What causes tides?")
    declined = [ask(client, who, NONSENSE) for who in (t.alice, t.bob, t.alice)]
    assert not any(d["grounded"] for d in declined)
    ask(client, t.bob, "What does the waggle dance tell?")

    url = f"/api/v1/answers/{good['answer_id']}/feedback"
    r = client.post(
        url, json={"rating": "down", "reason": "incomplete", "comment": " no sun "}, headers=t.alice
    )
    assert r.status_code == 201
    assert r.json()["reason"] == "incomplete" and r.json()["comment"] == "no sun"
    # Again: replaces Alice's verdict.
    r = client.post(url, json={"rating": "down", "reason": "bad_citation"}, headers=t.alice)
    assert r.status_code == 201
    client.post(
        f"/api/v1/answers/{declined[0]['answer_id']}/feedback",
        json={"rating": "down", "reason": "wrong"},
        headers=t.alice,
    )
    client.post(
        f"/api/v1/answers/{declined[1]['answer_id']}/feedback", json={"rating": "up"}, headers=t.bob
    )
    for body, status in [
        ({"rating": "up", "reason": "wrong"}, 422),  # a reason is for a thumbs-down
        ({"rating": "meh"}, 422),
        ({"rating": "down", "reason": "rude"}, 422),
        ({"rating": "down", "comment": "x" * 2001}, 422),
        ({"rating": "up", "extra": 1}, 422),
    ]:
        assert client.post(url, json=body, headers=t.alice).status_code == status, body
    missing = client.post(
        f"/api/v1/answers/{uuid.uuid4().hex}/feedback", json={"rating": "up"}, headers=t.alice
    )
    assert missing.status_code == 404
    long_id = client.post(
        f"/api/v1/answers/{'a' * 81}/feedback", json={"rating": "up"}, headers=t.alice
    )
    assert long_id.status_code == 422

    assert client.get("/api/v1/analytics", headers=t.alice).status_code == 403  # readers
    stats = client.get("/api/v1/analytics", headers=t.admin).json()
    assert stats["answers"] == 5 and stats["declined"] == 3
    assert stats["answers_with_feedback"] == 3 and stats["feedback_rate"] == 0.6
    assert stats["positive"] == 1 and stats["negative"] == 2
    assert stats["negative_share"] == round(2 / 3, 4)
    assert stats["reasons"] == {"bad_citation": 1, "wrong": 1}
    assert stats["top_unanswered"] == [{"question": NONSENSE.lower(), "count": 3}]
    assert client.get("/api/v1/analytics?days=0", headers=t.admin).status_code == 422


def test_chat_completions_return_the_searched_question_and_take_feedback(
    client: TestClient,
) -> None:
    t = new_tenant(client)
    messages = [
        {"role": "user", "content": "What do Honeybees perform to tell nest mates?"},
        {"role": "assistant", "content": "A waggle dance [1]."},
        {"role": "user", "content": "What does the angle of their run encode?"},
    ]
    r = client.post(
        "/v1/chat/completions", json={"model": "ragd", "messages": messages}, headers=t.alice
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("chatcmpl-")
    assert "Honeybees" in body["search_query"]
    assert "direction" in body["choices"][0]["message"]["content"]
    fb = client.post(
        f"/api/v1/answers/{body['id']}/feedback", json={"rating": "up"}, headers=t.alice
    )
    assert fb.status_code == 201 and body["id"].endswith(fb.json()["answer_id"])

    with connect_sse(
        client,
        "POST",
        "/v1/chat/completions",
        json={"model": "ragd", "messages": messages, "stream": True},
        headers=t.alice,
    ) as events:
        chunks = [json.loads(e.data) for e in events.iter_sse() if e.data != "[DONE]"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert "Honeybees" in last["search_query"] and last["answer_id"].startswith("chatcmpl-")
    fb = client.post(
        f"/api/v1/answers/{last['answer_id']}/feedback",
        json={"rating": "down", "reason": "wrong"},
        headers=t.alice,
    )
    assert fb.status_code == 201

    # /api/v1/query streams the same fields in "done".
    conv = client.post("/api/v1/conversations", json={}, headers=t.alice).json()
    with connect_sse(
        client,
        "POST",
        "/api/v1/query",
        json={"query": "What causes tides?", "stream": True, "conversation_id": conv["id"]},
        headers=t.alice,
    ) as events:
        dones = [json.loads(e.data) for e in events.iter_sse() if e.event == "done"]
    assert len(dones) == 1
    done = dones[0]
    assert done["answer_id"] and done["conversation_id"] == conv["id"]
    detail = client.get(f"/api/v1/conversations/{conv['id']}", headers=t.alice).json()
    assert [m["answer_id"] for m in detail["messages"]] == [done["answer_id"]]
    # The chat endpoint asks in a stored conversation too: its turns are the history.
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "ragd",
            "messages": [{"role": "user", "content": "And what about the Sun?"}],
            "conversation_id": conv["id"],
        },
        headers=t.alice,
    )
    assert r.status_code == 200, r.text
    assert "tides" in r.json()["search_query"]
    detail = client.get(f"/api/v1/conversations/{conv['id']}", headers=t.alice).json()
    assert [m["question"] for m in detail["messages"]] == [
        "What causes tides?",
        "And what about the Sun?",
    ]
    bob = client.post(
        "/v1/chat/completions",
        json={"model": "ragd", "messages": messages[:1], "conversation_id": conv["id"]},
        headers=t.bob,
    )
    assert bob.status_code == 404


def test_gdpr_export_and_erase_cover_conversations_and_feedback(client: TestClient) -> None:
    t = new_tenant(client)
    svc = client.app.state.services  # type: ignore[attr-defined]
    conv = client.post("/api/v1/conversations", json={"title": "mine"}, headers=t.alice).json()
    mine = ask(client, t.alice, "What causes tides?", conv["id"])
    loose = ask(client, t.alice, "What does the waggle dance tell?")
    bobs = ask(client, t.bob, "What causes tides?")
    client.patch(f"/api/v1/conversations/{conv['id']}", json={"shared": True}, headers=t.alice)
    for answer, who in ((mine, t.alice), (bobs, t.bob), (mine, t.bob), (loose, t.alice)):
        r = client.post(
            f"/api/v1/answers/{answer['answer_id']}/feedback", json={"rating": "up"}, headers=who
        )
        assert r.status_code == 201

    export = client.get(f"/admin/export/{t.alice_id}", headers=t.admin).json()
    assert [c["title"] for c in export["conversations"]] == ["mine"]
    assert export["conversations"][0]["turns"][0]["question"] == "What causes tides?"
    assert len(export["feedback"]) == 2

    erased = client.delete(f"/admin/users/{t.alice_id}", headers=t.admin)
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["conversations_deleted"] == 1
    assert report["answers_deleted"] == 2
    # Alice's two verdicts and Bob's on her answer; Bob's own answer and verdict stay.
    assert report["feedback_deleted"] == 3

    store, tenant = svc.conversations.store, TenantId(t.id)
    assert store.list_conversations(tenant, user_id=t.alice_id, include_shared=True) == []
    assert store.feedback(tenant, user_id=t.alice_id) == []
    assert [f.answer_id for f in store.feedback(tenant)] == [bobs["answer_id"]]
    assert store.get_turn(tenant, bobs["answer_id"]).user_id == t.bob_id
    assert client.get(f"/api/v1/conversations/{conv['id']}", headers=t.bob).status_code == 404
    stats = client.get("/api/v1/analytics", headers=t.admin).json()
    assert stats["answers"] == 1 and stats["positive"] == 1
