"""JWT trust: what a validly signed token may claim (issue 17, finding 6).

A signature proves who issued a token, not that its claims are true of ragd's accounts:
``platform_admin`` needs an allow-listed issuer (and the platform tenant), ``sub`` must be
an active user of the named tenant (the role granted is the lesser of the token's and the
user's), and ``iss``/``aud`` are checked when configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from ragd.domain.accounts import PLATFORM_TENANT, Role
from ragd.errors import ConfigError
from ragd.services.container import build_services, migrate_database
from tests.api.conftest import make_client
from tests.conftest import make_settings

SECRET = "test-jwt-secret-0123456789abcdef0123"
ISSUER = "https://idp.example"
AUDIENCE = "ragd-api"


@dataclass
class Env:
    client: TestClient
    admin_key: str  # acme's tenant admin
    platform_key: str
    users: dict[str, str]  # acme: role name -> user id; "platform" -> platform admin's id

    def token(self, sub: str, tenant: str = "acme", role: str = "reader", **extra: Any) -> str:
        claims = {
            "sub": sub,
            "tenant": tenant,
            "role": role,
            "exp": datetime.now(UTC) + timedelta(minutes=5),
            **extra,
        }
        return jwt.encode(claims, SECRET, algorithm="HS256")

    def get(self, path: str, token: str) -> int:
        return self.client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


def _env(client: TestClient) -> Env:
    svc = client.app.state.services  # type: ignore[attr-defined]
    platform = svc.account_admin.ensure_platform_admin()
    created = svc.account_admin.create_tenant("acme")
    users = {"tenant_admin": created.admin.id, "platform": platform.admin.id}
    for role in (Role.READER, Role.EDITOR):
        users[role.value] = svc.accounts.create_user(created.tenant.id, role.value, None, role).id
    svc.account_admin.create_tenant("globex")
    return Env(client, created.key.plaintext, platform.key.plaintext, users)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with make_client(tmp_path / "d", auth="required", secret_key=SECRET) as c:
        yield _env(c)


def test_a_tenant_token_claiming_platform_admin_gets_no_platform_rights(env: Env) -> None:
    """Before: 200 on /admin/tenants, and every tenant's audit log readable."""
    token = env.token(env.users["tenant_admin"], role="platform_admin")
    assert env.get("/admin/tenants", token) == 403
    assert env.get("/admin/audit?tenant_id=globex", token) == 403
    assert env.get("/admin/audit", token) == 200  # downgraded to what the user is
    # Even the platform admin's own id, in the platform tenant: no allow-listed issuer.
    platform = env.token(env.users["platform"], tenant=PLATFORM_TENANT, role="platform_admin")
    assert env.get("/admin/tenants", platform) == 403


def test_the_role_is_the_lesser_of_the_token_and_the_user(env: Env) -> None:
    """Before: a reader's id with role tenant_admin read the audit log (200)."""
    escalated = env.token(env.users["reader"], role="tenant_admin")
    assert env.get("/api/v1/documents", escalated) == 200
    assert env.get("/admin/audit", escalated) == 403
    modest = env.token(env.users["tenant_admin"], role="reader")
    assert env.get("/admin/audit", modest) == 403


def test_an_unknown_or_disabled_user_is_refused(env: Env) -> None:
    """Before: both answered 200 (any ``sub`` was accepted, and never looked up)."""
    assert env.get("/api/v1/documents", env.token("nobody", role="tenant_admin")) == 401
    editor = env.users["editor"]
    token = env.token(editor, role="editor")
    assert env.get("/api/v1/documents", token) == 200
    disabled = env.client.post(
        f"/admin/users/{editor}/disable", headers={"X-API-Key": env.admin_key}
    )
    assert disabled.status_code == 200
    assert env.get("/api/v1/documents", token) == 401
    # a user of another tenant is not a user of this one
    assert env.get("/api/v1/documents", env.token(env.users["reader"], tenant="globex")) == 401


def test_issuer_and_audience_are_checked_and_platform_issuers_allow_listed(
    tmp_path: Path,
) -> None:
    overrides = {
        "secret_key": SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwt_platform_admin_issuers": f"{ISSUER}, https://other.example",
    }
    with make_client(tmp_path / "d", auth="required", **overrides) as c:
        env = _env(c)
        good = {"iss": ISSUER, "aud": AUDIENCE}
        reader = env.users["reader"]
        assert env.get("/api/v1/documents", env.token(reader, **good)) == 200
        assert env.get("/api/v1/documents", env.token(reader)) == 401  # neither claim
        wrong_iss = env.token(reader, iss="https://evil.example", aud=AUDIENCE)
        assert env.get("/api/v1/documents", wrong_iss) == 401
        wrong_aud = env.token(reader, iss=ISSUER, aud="another-app")
        assert env.get("/api/v1/documents", wrong_aud) == 401
        # the allow-listed issuer may grant platform_admin, in the platform tenant only
        admin = env.token(env.users["platform"], PLATFORM_TENANT, "platform_admin", **good)
        assert env.get("/admin/tenants", admin) == 200
        acme_admin = env.token(env.users["tenant_admin"], role="platform_admin", **good)
        assert env.get("/admin/tenants", acme_admin) == 403


def test_external_users_are_trusted_only_when_configured(tmp_path: Path) -> None:
    with make_client(
        tmp_path / "d", auth="required", secret_key=SECRET, jwt_external_users=True
    ) as c:
        env = _env(c)
        outsider = env.token("idp-user-42", role="editor")
        assert env.get("/api/v1/documents", outsider) == 200
        upload = c.post(
            "/api/v1/documents",
            json={"text": "from the IdP"},
            headers={"Authorization": f"Bearer {outsider}"},
        )
        assert upload.status_code == 202
        # still no platform rights from a token, and the tenant must be active
        assert env.get("/admin/tenants", env.token("root", role="platform_admin")) == 403
        assert (
            c.post(
                "/admin/tenants/acme/disable", headers={"X-API-Key": env.platform_key}
            ).status_code
            == 200
        )
        assert env.get("/api/v1/documents", outsider) == 403


def test_a_jwks_without_audience_is_refused_at_start(tmp_path: Path) -> None:
    """An identity provider's keys sign tokens for every application it serves: without an
    audience, a token minted for another application would be accepted here."""
    settings = make_settings(
        tmp_path / "d", auth="required", jwt_jwks_url="http://127.0.0.1:9/jwks.json"
    )
    migrate_database(settings)
    with pytest.raises(ConfigError, match="RAGD_JWT_AUDIENCE"):
        build_services(settings)
