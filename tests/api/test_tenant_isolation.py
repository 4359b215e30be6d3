"""Random operations by several tenants through the HTTP API: no response ever carries
another tenant's data.

A Hypothesis state machine drives one live app (auth required, embedded worker) with
ingest, search (every mode, the knowledge graph's included), query, chat, list, get, delete,
stored conversations (start, ask in, share, list, read), feedback on answers, analytics,
cross-tenant probes of conversations and answers, key rotation and tenant erasure over three tenants per run, once on SQLite and once on Postgres + pgvector,
where ragd connects as a role that row-level security applies to (neither superuser nor
BYPASSRLS; see tests/contract/conftest.py). Every document's text carries a marker word
unique to its tenant, so any leak is visible in any response body.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from ragd.errors import NotFound
from tests.api.conftest import backend_client
from tests.contract.conftest import pg_session_database  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

OPERATIONS_REQUIRED = 10_000
RUNS, STEPS = 130, 100  # Hypothesis ends some runs early: ~88% of the maximum run
VOCAB = "river mountain honey bread tide forest copper violin lantern orbit".split()
MARKER = re.compile(r"mk[0-9a-f]{8}x")


class Counter:
    steps = 0
    hits = 0  # search hits seen: proves documents got indexed, so searches had data to leak
    graph_hits = 0  # the same for the graph modes: the graph was built and walked


class World:
    """Tenants, keys, markers and document owners, shared by all runs of the machine:
    creating a tenant costs several Argon2 hashes, so runs reuse them (and the documents
    earlier runs left behind make later runs' searches more demanding)."""

    def __init__(self) -> None:
        self.tenants: dict[str, dict[str, str]] = {}  # tenant -> role -> key
        self.marker: dict[str, str] = {}
        self.owned: dict[str, str] = {}  # document id -> tenant
        self.conversations: dict[str, str] = {}  # conversation id -> tenant
        self.answers: dict[str, str] = {}  # answer id -> tenant
        self.typed: dict[str, set[str]] = {}  # tenant -> markers its users typed in questions


def isolation_machine(client: TestClient) -> type[RuleBasedStateMachine]:
    svc = client.app.state.services  # type: ignore[attr-defined]
    platform = {"X-API-Key": svc.account_admin.ensure_platform_admin().key.plaintext}
    world = World()

    class TenantIsolation(RuleBasedStateMachine):
        docs = Bundle("docs")
        conversations = Bundle("conversations")
        answers = Bundle("answers")

        @initialize()
        def tenants_exist(self) -> None:
            self.tenants = world.tenants
            self.marker = world.marker
            self.owned = world.owned
            self.conversations = world.conversations
            self.answers = world.answers
            self.typed = world.typed
            while len(self.tenants) < 3:
                self._create_tenant("t" + uuid.uuid4().hex[:10])

        def _create_tenant(self, tenant: str) -> None:
            created = svc.account_admin.create_tenant(tenant)
            keys = {"admin": created.key.plaintext}
            for role in (Role.EDITOR, Role.READER):
                user = svc.accounts.create_user(created.tenant.id, role.value, None, role)
                keys[role.value] = svc.account_admin.issue_key(created.tenant.id, user.id).plaintext
            self.tenants[tenant] = keys
            self.marker[tenant] = "mk" + uuid.uuid4().hex[:8] + "x"

        def h(self, tenant: str, role: str = "reader") -> dict[str, str]:
            return {"X-API-Key": self.tenants[tenant][role]}

        def check(self, tenant: str, body: str) -> None:
            """Every marker in a response is the caller's own, or one its users typed
            into a question (the query rule probes with other tenants' markers)."""
            allowed = {self.marker[tenant], *self.typed.get(tenant, ())}
            for found in MARKER.findall(body):
                assert found in allowed, f"{tenant} saw another tenant's marker {found}"

        def step(self) -> None:
            Counter.steps += 1

        @rule(
            target=docs,
            t=st.integers(0, 2),
            # Capitalised words become graph entities (shared names across tenants: a graph
            # read that crossed tenants would return another tenant's chunk).
            words=st.lists(
                st.sampled_from(VOCAB + [w.capitalize() for w in VOCAB]), min_size=3, max_size=8
            ),
        )
        def ingest(self, t: int, words: list[str]) -> str:
            self.step()
            tenant = sorted(self.tenants)[t]
            text = f"{' '.join(words)} {self.marker[tenant]} {uuid.uuid4().hex[:6]}."
            r = client.post(
                "/api/v1/documents", json={"text": text}, headers=self.h(tenant, "editor")
            )
            assert r.status_code in (200, 202), r.text
            self.check(tenant, r.text)
            self.owned[r.json()["id"]] = tenant
            return r.json()["id"]

        @rule(
            t=st.integers(0, 2),
            word=st.sampled_from(VOCAB),
            mode=st.sampled_from(["hybrid", "dense", "sparse", "graph", "hybrid+graph"]),
            probe=st.integers(0, 2),
        )
        def search(self, t: int, word: str, mode: str, probe: int) -> None:
            self.step()
            tenants = sorted(self.tenants)
            tenant = tenants[t]
            # Sometimes another tenant's marker; a capitalised word names a graph entity.
            query = f"{word.capitalize()} {self.marker[tenants[probe]]}"
            r = client.post(
                "/api/v1/search",
                json={"query": query, "mode": mode, "top_k": 20},
                headers=self.h(tenant),
            )
            assert r.status_code == 200, r.text
            self.check(tenant, r.text)
            for hit in r.json()["hits"]:
                assert self.owned.get(hit["document_id"], tenant) == tenant
            Counter.hits += len(r.json()["hits"])
            if mode == "graph":
                Counter.graph_hits += len(r.json()["hits"])

        @rule(
            t=st.integers(0, 2),
            word=st.sampled_from(VOCAB),
            probe=st.integers(0, 2),
            chat=st.booleans(),
        )
        def query(self, t: int, word: str, probe: int, chat: bool) -> None:
            self.step()
            tenants = sorted(self.tenants)
            tenant = tenants[t]
            question = f"what about {word} {self.marker[tenants[probe]]}?"
            self.typed.setdefault(tenant, set()).add(self.marker[tenants[probe]])
            if chat:
                r = client.post(
                    "/v1/chat/completions",
                    json={"model": "ragd", "messages": [{"role": "user", "content": question}]},
                    headers=self.h(tenant),
                )
            else:
                r = client.post("/api/v1/query", json={"query": question}, headers=self.h(tenant))
            assert r.status_code == 200, r.text
            body = r.text.replace(
                self.marker[tenants[probe]], ""
            )  # the question echoes nowhere, but be fair
            self.check(tenant, body)
            for c in r.json()["citations"]:
                assert self.owned.get(c["document_id"], tenant) == tenant
            answer_id = r.json()["id"] if chat else r.json()["answer_id"]
            self.answers[answer_id.removeprefix("chatcmpl-")] = tenant

        @rule(target=conversations, t=st.integers(0, 2))
        def start_conversation(self, t: int) -> str:
            self.step()
            tenant = sorted(self.tenants)[t]
            r = client.post("/api/v1/conversations", json={}, headers=self.h(tenant))
            assert r.status_code == 201, r.text
            self.conversations[r.json()["id"]] = tenant
            return r.json()["id"]

        @rule(target=answers, conv=conversations, word=st.sampled_from(VOCAB), stream=st.booleans())
        def ask_in_conversation(self, conv: str, word: str, stream: bool) -> str:
            self.step()
            tenant = self.conversations.get(conv)
            if tenant is None or tenant not in self.tenants:
                return ""
            body = {"query": f"{word} {self.marker[tenant]}?", "conversation_id": conv}
            r = client.post("/api/v1/query", json=body, headers=self.h(tenant))
            if r.status_code == 404:  # deleted meanwhile
                return ""
            assert r.status_code == 200, r.text
            self.check(tenant, r.text)
            for c in r.json()["citations"]:
                assert self.owned.get(c["document_id"], tenant) == tenant
            self.answers[r.json()["answer_id"]] = tenant
            return str(r.json()["answer_id"])

        @rule(conv=conversations, share=st.booleans())
        def share_conversation(self, conv: str, share: bool) -> None:
            self.step()
            tenant = self.conversations.get(conv)
            if tenant is None or tenant not in self.tenants:
                return
            r = client.patch(
                f"/api/v1/conversations/{conv}", json={"shared": share}, headers=self.h(tenant)
            )
            assert r.status_code in (200, 404), r.text
            self.check(tenant, r.text)

        @rule(
            conv=conversations,
            t=st.integers(0, 2),
            method=st.sampled_from(["GET", "PATCH", "DELETE", "ASK"]),
        )
        def probe_conversation(self, conv: str, t: int, method: str) -> None:
            """Reading another tenant's conversation, shared or not, is a 404; so is
            changing it or asking in it. The owner tenant reads its own."""
            self.step()
            tenant = sorted(self.tenants)[t]
            owner = self.conversations.get(conv)
            url = f"/api/v1/conversations/{conv}"
            if owner == tenant:
                r = client.get(url, headers=self.h(tenant))
                assert r.status_code in (200, 404)
                self.check(tenant, r.text)
                for m in r.json().get("messages", []):
                    for p in m["result"]["passages"]:
                        assert self.owned.get(p["document_id"], tenant) == tenant
                return
            if method == "ASK":
                r = client.post(
                    "/api/v1/query",
                    json={"query": "and then?", "conversation_id": conv},
                    headers=self.h(tenant, "admin"),
                )
            elif method == "PATCH":
                r = client.patch(url, json={"title": "x"}, headers=self.h(tenant, "admin"))
            else:
                r = client.request(method, url, headers=self.h(tenant, "admin"))
            assert r.status_code == 404, (method, r.status_code, r.text)
            if owner in self.marker:
                assert self.marker[owner] not in r.text

        @rule(t=st.integers(0, 2), shared=st.booleans())
        def list_conversations(self, t: int, shared: bool) -> None:
            self.step()
            tenant = sorted(self.tenants)[t]
            r = client.get(
                "/api/v1/conversations",
                params={"shared": shared, "limit": 200},
                headers=self.h(tenant),
            )
            assert r.status_code == 200
            self.check(tenant, r.text)
            for c in r.json()["conversations"]:
                assert self.conversations.get(c["id"], tenant) == tenant

        @rule(answer=answers, t=st.integers(0, 2), up=st.booleans())
        def feedback(self, answer: str, t: int, up: bool) -> None:
            self.step()
            tenant = sorted(self.tenants)[t]
            owner = self.answers.get(answer)
            if not answer or owner is None:
                return
            body = {"rating": "up"} if up else {"rating": "down", "reason": "wrong"}
            r = client.post(f"/api/v1/answers/{answer}/feedback", json=body, headers=self.h(tenant))
            if owner == tenant:
                assert r.status_code in (201, 404), r.text  # 404: its conversation was deleted
            else:
                assert r.status_code == 404, r.text
            self.check(tenant, r.text)

        @rule(t=st.integers(0, 2))
        def analytics(self, t: int) -> None:
            self.step()
            tenant = sorted(self.tenants)[t]
            r = client.get(
                "/api/v1/analytics", params={"top": 100}, headers=self.h(tenant, "admin")
            )
            assert r.status_code == 200, r.text
            self.check(tenant, r.text)

        @rule(t=st.integers(0, 2))
        def list_documents(self, t: int) -> None:
            self.step()
            tenant = sorted(self.tenants)[t]
            r = client.get("/api/v1/documents", params={"limit": 500}, headers=self.h(tenant))
            assert r.status_code == 200
            self.check(tenant, r.text)
            for d in r.json()["documents"]:
                assert self.owned.get(d["id"], tenant) == tenant

        @rule(doc=docs, t=st.integers(0, 2), method=st.sampled_from(["GET", "DELETE"]))
        def probe_document(self, doc: str, t: int, method: str) -> None:
            self.step()
            tenant = sorted(self.tenants)[t]
            owner = self.owned.get(doc)
            if owner == tenant or owner is None:
                return
            r = client.request(method, f"/api/v1/documents/{doc}", headers=self.h(tenant, "editor"))
            assert r.status_code == 404, (method, r.status_code)
            assert self.marker[owner] not in r.text

        @rule(doc=consumes(docs))
        def delete(self, doc: str) -> None:
            self.step()
            owner = self.owned.pop(doc, None)
            if owner is None:
                return
            r = client.delete(f"/api/v1/documents/{doc}", headers=self.h(owner, "editor"))
            assert r.status_code in (204, 404)

        @rule(t=st.integers(0, 2), dice=st.integers(0, 9))
        def rotate_reader_key(self, t: int, dice: int) -> None:
            self.step()
            if dice:
                return
            tenant = sorted(self.tenants)[t]
            old = self.tenants[tenant]["reader"]
            prefix = old.split("_")[1]
            key_id = next(k.id for k in svc.accounts.list_keys(tenant) if k.prefix == prefix)
            r = client.post(f"/admin/keys/{key_id}/rotate", headers=self.h(tenant, "admin"))
            assert r.status_code == 201
            self.tenants[tenant]["reader"] = r.json()["key"]
            assert client.get("/api/v1/documents", headers={"X-API-Key": old}).status_code == 401

        @rule(t=st.integers(0, 2), dice=st.integers(0, 29))
        def erase_and_recreate_tenant(self, t: int, dice: int) -> None:
            self.step()
            if dice:
                return  # rare: erasing is the most expensive operation
            tenant = sorted(self.tenants)[t]
            r = client.delete(f"/admin/tenants/{tenant}", headers=platform)
            assert r.status_code == 200, r.text
            old_keys = self.tenants.pop(tenant)
            self.marker.pop(tenant)
            for d in [d for d, o in self.owned.items() if o == tenant]:
                del self.owned[d]
            store = svc.conversations.store
            for conv in [c for c, o in self.conversations.items() if o == tenant]:
                with pytest.raises(NotFound):
                    store.get_conversation(TenantId(tenant), conv)
            for answer in [a for a, o in self.answers.items() if o == tenant]:
                with pytest.raises(NotFound):
                    store.get_turn(TenantId(tenant), answer)
            self.typed.pop(tenant, None)
            assert (
                client.get(
                    "/api/v1/documents", headers={"X-API-Key": old_keys["reader"]}
                ).status_code
                == 401
            )
            self._create_tenant("t" + uuid.uuid4().hex[:10])

        @invariant()
        def three_tenants(self) -> None:
            if hasattr(self, "tenants"):
                assert len(self.tenants) == 3

    return TenantIsolation


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("isolation")
    common: dict[str, object] = {
        "auth": "required",
        "worker_poll_seconds": 0.02,
        "cache_ttl_seconds": 60,
        "graph_enabled": True,
        "graph_min_score": 0.0,  # every chunk the walk reaches, however common its names
    }
    with backend_client(request, data, **common) as c:
        yield c


def test_no_response_carries_another_tenants_data(client: TestClient) -> None:
    Counter.steps = Counter.hits = Counter.graph_hits = 0
    machine = isolation_machine(client)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=RUNS,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    assert Counter.steps >= OPERATIONS_REQUIRED, Counter.steps
    assert Counter.hits > 0, "no search ever found a document: nothing was indexed"
    assert Counter.graph_hits > 0, "no graph search found a chunk: the graph was never read"
