"""The UI's server side without a browser: the shell and assets are public and outside the
OpenAPI schema, ``/api/v1/me`` names the caller, ``/admin/usage`` sums every tenant."""

from __future__ import annotations

from pathlib import Path

from ragd.domain.models import TenantId
from tests.api.conftest import make_client


def test_shell_and_assets_are_public_with_a_strict_policy(tmp_path: Path) -> None:
    with make_client(tmp_path / "d", auth="required") as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert '<script type="module" src="/ui/js/app.js">' in page.text
        for asset, kind in [
            ("/ui/js/app.js", "javascript"),
            ("/ui/js/chat.js", "javascript"),
            ("/ui/style.css", "text/css"),
        ]:
            r = c.get(asset)
            assert r.status_code == 200 and kind in r.headers["content-type"], asset
            assert r.headers["cache-control"] == "no-cache"
        assert c.get("/ui/nope.js").status_code == 404
        assert c.get("/ui/../app.py").status_code == 404
        paths = c.get("/openapi.json").json()["paths"]
        assert "/" not in paths and not any(p.startswith("/ui") for p in paths)
        assert c.get("/api/v1/me").status_code == 401


def test_me_and_usage_of_every_tenant(tmp_path: Path) -> None:
    with make_client(tmp_path / "d", auth="required") as c:
        svc = c.app.state.services  # type: ignore[attr-defined]
        platform = svc.account_admin.ensure_platform_admin().key.plaintext
        acme = svc.account_admin.create_tenant("acme").key.plaintext
        svc.audit.record_usage(
            TenantId("acme"),
            user_id=None,
            request_id=None,
            model="m",
            prompt_tokens=10,
            completion_tokens=5,
            cost_usd=0.25,
        )
        me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {acme}"}).json()
        assert (
            me["tenant_id"] == "acme" and me["role"] == "tenant_admin" and me["method"] == "api_key"
        )
        assert me["auth_required"] is True
        assert c.get("/admin/usage", headers={"X-API-Key": acme}).status_code == 403
        body = c.get("/admin/usage", headers={"X-API-Key": platform}).json()
        by_tenant = {t["tenant_id"]: t for t in body["tenants"]}
        assert by_tenant["acme"]["total_tokens"] == 15 and by_tenant["acme"]["cost_usd"] == 0.25
        assert by_tenant["acme"]["models"][0]["model"] == "m"
        assert body["total_tokens"] == 15 and body["cost_usd"] == 0.25


def test_without_auth_the_caller_is_the_local_platform_admin(tmp_path: Path) -> None:
    with make_client(tmp_path / "d", auth="disabled") as c:
        me = c.get("/api/v1/me").json()
        assert me == {
            "tenant_id": "default",
            "user_id": "local",
            "role": "platform_admin",
            "method": "none",
            "auth_required": False,
        }
        tenants = [t["tenant_id"] for t in c.get("/admin/usage").json()["tenants"]]
        assert tenants[0] == "default"
