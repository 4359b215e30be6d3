"""Authentication, roles, tenancy guards, rate limits, quotas, audit and GDPR over HTTP."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from ragd.domain.accounts import Role
from tests.api.conftest import BEES, TIDES, make_client

PUBLIC = {"/health", "/ready", "/health/detailed"}
JWT_SECRET = "test-jwt-secret-0123456789abcdef0123"


class Env:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        svc = client.app.state.services  # type: ignore[attr-defined]
        self.svc = svc
        self.platform = svc.account_admin.ensure_platform_admin().key.plaintext
        self.keys: dict[tuple[str, Role], str] = {}
        for tenant in ("acme", "globex"):
            created = svc.account_admin.create_tenant(tenant)
            self.keys[(tenant, Role.TENANT_ADMIN)] = created.key.plaintext
            for role in (Role.READER, Role.EDITOR):
                user = svc.accounts.create_user(created.tenant.id, role.value, None, role)
                self.keys[(tenant, role)] = svc.account_admin.issue_key(
                    created.tenant.id, user.id
                ).plaintext

    def h(self, tenant: str, role: Role) -> dict[str, str]:
        return {"X-API-Key": self.keys[(tenant, role)]}

    def upload(self, tenant: str, text: str) -> str:
        r = self.client.post(
            "/api/v1/documents", json={"text": text}, headers=self.h(tenant, Role.EDITOR)
        )
        assert r.status_code == 202, r.text
        doc = r.json()["id"]
        deadline = time.monotonic() + 30
        while (
            self.client.get(f"/api/v1/documents/{doc}", headers=self.h(tenant, Role.READER)).json()[
                "status"
            ]
            != "indexed"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return doc


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with make_client(tmp_path / "d", auth="required", secret_key=JWT_SECRET) as c:
        yield Env(c)


def _operations(client: TestClient) -> list[tuple[str, str, str | None]]:
    schema = client.get("/openapi.json").json()
    ops = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            ops.append((method.upper(), path, op.get("x-required-role")))
    return ops


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    url = path.replace("{", "").replace("}", "")  # {document_id} -> document_id: any id will do
    return client.request(method, url, headers=headers or {}).status_code


def test_every_route_needs_credentials_and_the_right_role(env: Env) -> None:
    ops = _operations(env.client)
    assert len(ops) >= 25
    weaker = {
        "reader": None,
        "editor": Role.READER,
        "tenant_admin": Role.EDITOR,
        "platform_admin": Role.TENANT_ADMIN,
    }
    for method, path, role in ops:
        if path in PUBLIC:
            assert role is None and _call(env.client, method, path) == 200, path
            continue
        assert role is not None, f"{method} {path} has no required role"
        assert _call(env.client, method, path) == 401, (method, path)
        bad = _call(env.client, method, path, {"X-API-Key": "ragd_0000_nope"})
        assert bad == 401, (method, path)
        too_weak = weaker[role]
        if too_weak is not None:
            status = _call(env.client, method, path, env.h("acme", too_weak))
            assert status == 403, (method, path, too_weak, status)
    assert env.client.get("/metrics").status_code == 200


def test_401_is_a_problem_with_www_authenticate(env: Env) -> None:
    r = env.client.post("/api/v1/search", json={"query": "x"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] == "unauthenticated"


def test_bearer_api_key_and_hs256_jwt(env: Env) -> None:
    key = env.keys[("acme", Role.READER)]
    assert (
        env.client.get("/api/v1/documents", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    now = datetime.now(UTC)
    # A token's ``sub`` must be an active user of its tenant (tests/security/test_jwt_trust.py)
    users = env.svc.accounts
    alice = users.create_user("acme", "alice", None, Role.EDITOR).id
    carol = users.create_user("acme", "carol", None, Role.EDITOR).id
    token = jwt.encode(
        {"sub": alice, "tenant": "acme", "role": "editor", "exp": now + timedelta(minutes=5)},
        JWT_SECRET,
        algorithm="HS256",
    )
    r = env.client.post(
        "/api/v1/documents", json={"text": "jwt doc"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 202
    expired = jwt.encode(
        {"sub": alice, "tenant": "acme", "exp": now - timedelta(minutes=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    r = env.client.get("/api/v1/documents", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    forged = jwt.encode(
        {
            "sub": "eve",
            "tenant": "acme",
            "role": "platform_admin",
            "exp": now + timedelta(minutes=5),
        },
        "another-secret-another-secret-1234",
        algorithm="HS256",
    )
    assert (
        env.client.get(
            "/api/v1/documents", headers={"Authorization": f"Bearer {forged}"}
        ).status_code
        == 401
    )
    ghost = jwt.encode(
        {"sub": "bob", "tenant": "nope", "exp": now + timedelta(minutes=5)},
        JWT_SECRET,
        algorithm="HS256",
    )
    assert (
        env.client.get(
            "/api/v1/documents", headers={"Authorization": f"Bearer {ghost}"}
        ).status_code
        == 401
    )
    reader = jwt.encode(
        {"sub": carol, "tenant": "acme", "exp": now + timedelta(minutes=5)},
        JWT_SECRET,
        algorithm="HS256",
    )
    assert (
        env.client.delete(
            "/api/v1/documents/x", headers={"Authorization": f"Bearer {reader}"}
        ).status_code
        == 403
    )


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", use="sig", alg="ES256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private
    server.shutdown()


def test_es256_jwt_through_jwks(tmp_path: Path, jwks_server: tuple[str, Any]) -> None:
    url, private = jwks_server
    # An identity provider's users (jwt_external_users), for this application (audience).
    with make_client(
        tmp_path / "d",
        auth="required",
        jwt_jwks_url=url,
        jwt_audience="ragd-api",
        jwt_external_users=True,
    ) as c:
        c.app.state.services.account_admin.create_tenant("acme")  # type: ignore[attr-defined]
        claims = {
            "sub": "dave",
            "aud": "ragd-api",
            "tenant": "acme",
            "role": "reader",
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        }
        token = jwt.encode(claims, private, algorithm="ES256", headers={"kid": "k1"})
        assert (
            c.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
        wrong_kid = jwt.encode(claims, private, algorithm="ES256", headers={"kid": "k2"})
        assert (
            c.get("/api/v1/documents", headers={"Authorization": f"Bearer {wrong_kid}"}).status_code
            == 401
        )


def test_other_tenants_document_is_404_counted_and_audited(env: Env) -> None:
    doc = env.upload("acme", BEES)
    before = _metric(env.client, "genai_cross_tenant_leakage_attempts_total")
    for method in ("GET", "DELETE"):
        r = env.client.request(
            method, f"/api/v1/documents/{doc}", headers=env.h("globex", Role.EDITOR)
        )
        assert r.status_code == 404
        missing = env.client.request(
            method, "/api/v1/documents/does-not-exist", headers=env.h("globex", Role.EDITOR)
        )
        assert r.json()["detail"].replace(doc, "ID") == missing.json()["detail"].replace(
            "does-not-exist", "ID"
        )
    assert _metric(env.client, "genai_cross_tenant_leakage_attempts_total") == before + 2
    audit = env.client.get(
        "/admin/audit",
        params={"action": "document.cross_tenant_attempt"},
        headers=env.h("globex", Role.TENANT_ADMIN),
    ).json()
    assert len(audit["entries"]) == 2 and audit["entries"][0]["resource"] == doc
    hits = env.client.post(
        "/api/v1/search", json={"query": "waggle dance"}, headers=env.h("globex", Role.READER)
    ).json()["hits"]
    assert hits == []
    assert (
        env.client.get(f"/api/v1/documents/{doc}", headers=env.h("acme", Role.READER)).status_code
        == 200
    )


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_rate_limit_per_tenant_gives_429_with_retry_after(env: Env) -> None:
    r = env.client.put(
        "/admin/tenants/acme/limits",
        json={"rate_limit_rpm": 3},
        headers={"X-API-Key": env.platform},
    )
    assert r.status_code == 200 and r.json()["limits"]["rate_limit_rpm"] == 3
    statuses = [
        env.client.get("/api/v1/documents", headers=env.h("acme", Role.READER)).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    r = env.client.get("/api/v1/documents", headers=env.h("acme", Role.EDITOR))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["code"] == "rate_limited"
    assert (
        env.client.get("/api/v1/documents", headers=env.h("globex", Role.READER)).status_code == 200
    )


def test_document_quota(env: Env) -> None:
    env.client.put(
        "/admin/tenants/acme/limits", json={"max_documents": 1}, headers={"X-API-Key": env.platform}
    )
    assert (
        env.client.post(
            "/api/v1/documents", json={"text": "one"}, headers=env.h("acme", Role.EDITOR)
        ).status_code
        == 202
    )
    r = env.client.post(
        "/api/v1/documents", json={"text": "two"}, headers=env.h("acme", Role.EDITOR)
    )
    assert r.status_code == 403 and r.json()["code"] == "quota_exceeded"


def test_key_rotation_and_revocation_are_immediate(env: Env) -> None:
    admin = env.h("acme", Role.TENANT_ADMIN)
    created = env.client.post("/admin/keys", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["id"]
    assert "key" not in env.client.get("/admin/keys", headers=admin).json()[0]
    assert env.client.get("/api/v1/documents", headers={"X-API-Key": key}).status_code == 200
    rotated = env.client.post(f"/admin/keys/{key_id}/rotate", headers=admin).json()
    assert env.client.get("/api/v1/documents", headers={"X-API-Key": key}).status_code == 401
    assert (
        env.client.get("/api/v1/documents", headers={"X-API-Key": rotated["key"]}).status_code
        == 200
    )
    assert env.client.delete(f"/admin/keys/{rotated['id']}", headers=admin).status_code == 204
    assert (
        env.client.get("/api/v1/documents", headers={"X-API-Key": rotated["key"]}).status_code
        == 401
    )
    other = env.client.delete(
        f"/admin/keys/{rotated['id']}", headers=env.h("globex", Role.TENANT_ADMIN)
    )
    assert other.status_code == 404


def test_disabled_tenant_is_locked_out(env: Env) -> None:
    assert (
        env.client.post(
            "/admin/tenants/globex/disable", headers={"X-API-Key": env.platform}
        ).status_code
        == 200
    )
    r = env.client.get("/api/v1/documents", headers=env.h("globex", Role.READER))
    assert r.status_code == 403
    env.client.post("/admin/tenants/globex/enable", headers={"X-API-Key": env.platform})
    assert (
        env.client.get("/api/v1/documents", headers=env.h("globex", Role.READER)).status_code == 200
    )


def test_audit_log_records_writes_and_auth_failures_per_tenant(env: Env) -> None:
    doc = env.upload("acme", TIDES)
    env.client.delete(f"/api/v1/documents/{doc}", headers=env.h("acme", Role.EDITOR))
    env.client.get(
        "/api/v1/documents", headers={"X-API-Key": env.keys[("acme", Role.READER)][:-3] + "xyz"}
    )
    entries = env.client.get("/admin/audit", headers=env.h("acme", Role.TENANT_ADMIN)).json()[
        "entries"
    ]
    actions = [e["action"] for e in entries]
    assert {"document.create", "document.delete", "auth.failure"} <= set(actions)
    failure = next(e for e in entries if e["action"] == "auth.failure")
    assert failure["outcome"] == "denied" and failure["request_id"] and failure["client_ip"]
    create = next(e for e in entries if e["action"] == "document.create")
    assert create["resource"] == doc and create["user_id"]
    theirs = env.client.get("/admin/audit", headers=env.h("globex", Role.TENANT_ADMIN)).json()[
        "entries"
    ]
    assert all(e["resource"] != doc for e in theirs)
    other = env.client.get(
        "/admin/audit", params={"tenant_id": "acme"}, headers=env.h("globex", Role.TENANT_ADMIN)
    )
    assert other.status_code == 403


def test_export_anonymize_and_erase_user(env: Env) -> None:
    svc = env.svc
    env.upload("acme", BEES)
    reader = env.h("acme", Role.READER)
    asked = env.client.post(
        "/api/v1/query", json={"query": "my secret question about bees"}, headers=reader
    )
    admin = env.h("acme", Role.TENANT_ADMIN)
    user_id = next(
        u["id"]
        for u in env.client.get("/admin/users", headers=admin).json()
        if u["role"] == "reader"
    )
    export = env.client.get(f"/admin/export/{user_id}", headers=admin).json()
    assert export["user"]["id"] == user_id and export["api_keys"]
    assert any("secret question" in q["text"] for q in export["queries"])
    assert env.client.post("/admin/anonymize", json={"user_id": user_id}, headers=admin).json() == {
        "queries_anonymized": 1,
        "answers_anonymized": 1,
    }
    assert all("secret" not in q.text for q in svc.audit.queries("acme"))
    turn = svc.conversations.store.get_turn("acme", asked.json()["answer_id"])
    assert "secret" not in turn.question + turn.search_query and turn.user_id is None
    report = env.client.delete(f"/admin/users/{user_id}", headers=admin).json()
    assert report["api_keys_deleted"] == 1
    assert env.client.get("/api/v1/documents", headers=reader).status_code == 401
    assert env.client.get(f"/admin/export/{user_id}", headers=admin).status_code == 404
    assert all(e.user_id != user_id for e in svc.audit.entries("acme", limit=1000))


def test_erase_tenant_leaves_nothing_searchable_cached_or_exportable(env: Env) -> None:
    svc = env.svc
    doc = env.upload("globex", BEES)
    reader = env.h("globex", Role.READER)
    assert env.client.post(
        "/api/v1/query", json={"query": "waggle dance distance"}, headers=reader
    ).json()["citations"]
    assert env.client.post(
        "/api/v1/query", json={"query": "waggle dance distance"}, headers=reader
    ).json()["cached"]
    report = env.client.delete("/admin/tenants/globex", headers={"X-API-Key": env.platform}).json()
    assert report["documents_deleted"] == 1 and report["chunks_deleted"] >= 1
    assert env.client.get("/api/v1/documents", headers=reader).status_code == 401
    assert svc.store.count_documents("globex") == 0 and svc.store.count_chunks("globex") == 0
    assert svc.index.count("globex") == 0
    assert svc.store.document_owner(doc) is None
    assert svc.audit.queries("globex") == [] and svc.audit.entries("globex") == []
    assert svc.accounts.list_users("globex") == [] and svc.accounts.list_keys("globex") == []
    assert "globex" not in [
        t["id"]
        for t in env.client.get("/admin/tenants", headers={"X-API-Key": env.platform}).json()
    ]
    # Re-created under the same id: nothing of the old tenant comes back, cache included.
    new = svc.account_admin.create_tenant("globex").key.plaintext
    r = env.client.post(
        "/api/v1/query", json={"query": "waggle dance distance"}, headers={"X-API-Key": new}
    ).json()
    assert r["passages"] == [] and r["cached"] is False


def test_no_secret_reaches_any_log_line(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [env.platform, *env.keys.values(), JWT_SECRET]
    token = jwt.encode(
        {"sub": "x", "tenant": "acme", "exp": datetime.now(UTC) + timedelta(minutes=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    secrets.append(token)
    env.upload("acme", BEES)
    for key in (*env.keys.values(), env.platform):
        env.client.get("/api/v1/documents", headers={"X-API-Key": key})
        env.client.get("/api/v1/documents", headers={"X-API-Key": key[:-2] + "zz"})
    env.client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token}"})
    env.client.get("/api/v1/documents", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    env.client.post("/admin/keys", json={}, headers=env.h("acme", Role.TENANT_ADMIN))
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 0
    for secret in secrets:
        parts = secret.split("_", 2)  # ragd_<public prefix>_<secret>: the secret part alone
        private = parts[2] if len(parts) == 3 and parts[0] == "ragd" else secret
        assert len(private) >= 32
        for line in lines:
            assert secret not in line and private not in line
