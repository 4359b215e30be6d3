"""API keys limited to a role, over HTTP on SQLite and on Postgres (as the restricted role
row-level security applies to).

A key limited to a role acts with the lesser of it and its user's role, computed on every
request: route role checks, admin pages, and collection grants (a reader's key never
writes, an editor's key never manages, whatever the user's grants). Worst cases: a limit
above the user's role, an unknown role, a platform admin's key (which must not be able to
mint itself a stronger one), and a user whose role is lowered after the key was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ragd.adapters.sql.accounts_schema import users
from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from tests.api.conftest import backend_client
from tests.contract.conftest import pg_session_database  # noqa: F401 - the fixture


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("keyroles")
    common: dict[str, object] = {"auth": "required", "worker_poll_seconds": 0.02}
    with backend_client(request, data, **common) as c:
        yield c


class World:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.svc = client.app.state.services  # type: ignore[attr-defined]
        self.tenant = "k" + uuid.uuid4().hex[:10]
        made = self.svc.account_admin.create_tenant(self.tenant)
        self.admin_id = made.admin.id
        self.admin = {"X-API-Key": made.key.plaintext}
        self.eve = self.svc.accounts.create_user(TenantId(self.tenant), "eve", None, Role.EDITOR)
        self.bob = self.svc.accounts.create_user(TenantId(self.tenant), "bob", None, Role.READER)

    def key(self, user_id: str | None = None, **body: Any) -> tuple[str, dict[str, Any]]:
        """A key made over HTTP by the tenant admin: (id, headers)."""
        r = self.client.post(
            "/admin/keys", json={"user_id": user_id or self.admin_id, **body}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return r.json()["id"], {"X-API-Key": r.json()["key"]}

    def upload(self, headers: dict[str, str], **body: Any) -> int:
        r = self.client.post(
            "/api/v1/documents",
            json={"text": f"quarterly numbers {uuid.uuid4().hex} " * 4, **body},
            headers=headers,
        )
        return r.status_code

    def set_grant(self, headers: dict[str, str], principal: str, level: str) -> int:
        r = self.client.put(
            "/api/v1/collections/ops/grants",
            json={"principal": principal, "level": level},
            headers=headers,
        )
        return r.status_code

    def audit(self, action: str) -> list[dict[str, Any]]:
        r = self.client.get("/admin/audit", params={"action": action}, headers=self.admin)
        assert r.status_code == 200, r.text
        return list(r.json()["entries"])


@pytest.fixture(scope="module")
def w(client: TestClient) -> World:
    world = World(client)
    r = client.post("/api/v1/collections", json={"id": "ops", "name": "Ops"}, headers=world.admin)
    assert r.status_code == 201, r.text
    assert world.set_grant(world.admin, f"u:{world.eve.id}", "manage") == 204
    return world


def test_a_tenant_admins_reader_key_reads_but_cannot_write_manage_or_administer(
    w: World,
) -> None:
    key_id, reader = w.key(role="reader", name="dashboard")
    listed = {k["id"]: k for k in w.client.get("/admin/keys", headers=w.admin).json()}
    assert listed[key_id]["role"] == "reader"
    assert (
        w.client.post("/api/v1/search", json={"query": "numbers"}, headers=reader).status_code
        == 200
    )
    assert w.upload(reader) == 403
    assert w.client.get("/admin/keys", headers=reader).status_code == 403
    assert w.client.get("/admin/audit", headers=reader).status_code == 403
    assert w.client.get("/api/v1/groups", headers=reader).status_code == 403
    # acting as a reader: grants only, and no grant on ops at all
    assert w.set_grant(reader, "*", "read") == 404
    assert (
        w.client.post(
            "/api/v1/collections", json={"id": "x1", "name": "X"}, headers=reader
        ).status_code
        == 403
    )
    made = w.audit("key.create")
    assert any(e["resource"] == key_id and e["detail"]["role"] == "reader" for e in made)


def test_grants_are_capped_by_the_keys_role(w: World) -> None:
    _, full = w.key(w.eve.id)
    _, editor = w.key(w.eve.id, role="editor")
    _, reader = w.key(w.eve.id, role="reader")
    # eve as herself: manage on ops (grants and uploads)
    assert w.set_grant(full, f"u:{w.bob.id}", "read") == 204
    assert w.upload(full, collection="ops") == 202
    # an editor's key writes but does not manage
    assert w.upload(editor, collection="ops") == 202
    assert w.set_grant(editor, f"u:{w.bob.id}", "write") == 403
    assert (
        w.client.patch(
            "/api/v1/collections/ops", json={"description": "x"}, headers=editor
        ).status_code
        == 403
    )
    # a reader's key neither writes nor manages, though eve holds manage there
    assert w.upload(reader, collection="ops") == 403
    assert w.set_grant(reader, f"u:{w.bob.id}", "write") == 403
    assert w.client.get("/api/v1/collections/ops", headers=reader).status_code == 200


def test_changing_a_keys_role_counts_from_the_next_request_and_is_audited(w: World) -> None:
    key_id, h = w.key(w.eve.id)
    assert w.upload(h) == 202
    r = w.client.put(f"/api/v1/keys/{key_id}/role", json={"role": "reader"}, headers=w.admin)
    assert r.status_code == 204, r.text
    assert w.upload(h) == 403
    listed = {k["id"]: k for k in w.client.get("/admin/keys", headers=w.admin).json()}
    assert listed[key_id]["role"] == "reader"
    assert (
        w.client.put(
            f"/api/v1/keys/{key_id}/role", json={"role": None}, headers=w.admin
        ).status_code
        == 204
    )
    assert w.upload(h) == 202
    changes = [e for e in w.audit("key.role") if e["resource"] == key_id]
    pairs = {(e["detail"]["before"], e["detail"]["after"]) for e in changes}
    assert pairs == {(None, "reader"), ("reader", None)}
    assert len(changes) == 2
    # rotating keeps the limit
    w.client.put(f"/api/v1/keys/{key_id}/role", json={"role": "reader"}, headers=w.admin)
    r = w.client.post(f"/admin/keys/{key_id}/rotate", headers=w.admin)
    assert r.status_code == 201 and r.json()["role"] == "reader"


def test_lowering_the_user_lowers_the_key(w: World) -> None:
    user = w.svc.accounts.create_user(TenantId(w.tenant), "dan", None, Role.EDITOR)
    _, h = w.key(user.id, role="editor")
    assert w.upload(h) == 202
    with w.svc.accounts.db.write(TenantId(w.tenant)) as conn:  # no role-change route yet
        conn.execute(update(users).where(users.c.id == user.id).values(role="reader"))
    assert w.upload(h) == 403


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"role": "tenant_admin"}, 422, "its user is only editor"),
        ({"role": "platform_admin"}, 422, "its user is only editor"),
        ({"role": "superuser"}, 422, "role"),
        ({"role": ["reader"]}, 422, "role"),
    ],
)
def test_a_role_above_the_user_or_unknown_is_a_clear_problem(
    w: World, body: dict[str, Any], status: int, says: str
) -> None:
    r = w.client.post("/admin/keys", json={"user_id": w.eve.id, **body}, headers=w.admin)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert says in r.text
    key_id, _ = w.key(w.eve.id)
    r = w.client.put(f"/api/v1/keys/{key_id}/role", json=body, headers=w.admin)
    assert r.status_code == status and says in r.text
    r = w.client.put("/api/v1/keys/nope/role", json={"role": "reader"}, headers=w.admin)
    assert r.status_code == 404


def test_a_platform_admins_limited_key_cannot_manage_tenants_or_mint_a_stronger_key(
    client: TestClient,
) -> None:
    svc = client.app.state.services  # type: ignore[attr-defined]
    platform = svc.account_admin.ensure_platform_admin("pa-" + uuid.uuid4().hex[:6])
    full = {"X-API-Key": platform.key.plaintext}
    me = platform.admin.id
    r = client.post("/admin/keys", json={"user_id": me, "role": "tenant_admin"}, headers=full)
    assert r.status_code == 201 and r.json()["role"] == "tenant_admin"
    limited = {"X-API-Key": r.json()["key"]}
    assert client.get("/admin/tenants", headers=limited).status_code == 403
    assert client.get("/admin/tenants", headers=full).status_code == 200
    tenant = {"id": "n" + uuid.uuid4().hex[:8]}
    assert client.post("/admin/tenants", json=tenant, headers=limited).status_code == 403
    # it cannot lift itself, nor make a key above what it acts as
    r = client.post("/admin/keys", json={"user_id": me, "role": "platform_admin"}, headers=limited)
    assert r.status_code == 403, r.text
    r = client.post("/admin/keys", json={"user_id": me}, headers=limited)
    assert r.status_code == 201 and r.json()["role"] == "tenant_admin"
    minted = {"X-API-Key": r.json()["key"]}
    assert client.get("/admin/tenants", headers=minted).status_code == 403
    key_id = r.json()["id"]
    r = client.put(f"/api/v1/keys/{key_id}/role", json={"role": None}, headers=limited)
    assert r.status_code == 204
    listed = {k["id"]: k for k in client.get("/admin/keys", headers=full).json()}
    assert listed[key_id]["role"] == "tenant_admin"  # lifted only as far as the caller
    # the platform admin lifts it for real
    r = client.put(f"/api/v1/keys/{key_id}/role", json={"role": None}, headers=full)
    assert r.status_code == 204
    assert client.get("/admin/tenants", headers=minted).status_code == 200
