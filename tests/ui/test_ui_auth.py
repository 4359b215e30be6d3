"""With ``RAGD_AUTH=required``: sign in with a key made by ``ragd admin create-tenant``,
see the role's pages only, create and revoke an API key (shown once), the audit log and
usage; then a platform admin's tenants and per-tenant usage pages."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import playwright_expect, ragd_cli

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()


@pytest.fixture(scope="module")
def secured(start_server: Any) -> dict[str, str]:
    srv, env = start_server(RAGD_AUTH="required")
    with ThreadPoolExecutor(2) as pool:  # two CLI start-ups at once
        acme_job = pool.submit(
            ragd_cli, env, "admin", "create-tenant", "acme", "--name", "Acme Corp"
        )
        platform_job = pool.submit(ragd_cli, env, "admin", "create-platform-admin")
        acme, platform = acme_job.result(), platform_job.result()
    return {"base": srv.base, "acme": acme["key"], "platform": platform["key"]}


def _startswith(prefix: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(prefix))


def _sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key or JWT").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_roles_keys_audit_usage(
    page: Any, secured: dict[str, str], screenshots: Path
) -> None:
    base = secured["base"]
    assert httpx.get(base + "/api/v1/me").status_code == 401
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("API key or JWT")).to_be_focused()
    _sign_in(page, "ragd_0000_not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    page.screenshot(path=str(screenshots / "signin.png"))

    _sign_in(page, secured["acme"])
    expect(page.get_by_test_id("who")).to_contain_text("tenant acme · tenant admin")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(
        ["Chat", "Documents", "Sources", "API keys", "Members", "Usage", "Answers", "Audit log"]
    )
    nav.get_by_role("link", name="Documents").click()
    expect(page.locator("table.docs")).to_contain_text("No documents yet.")

    # A key is shown once, works, and stops working when revoked.
    nav.get_by_role("link", name="API keys").click()
    # Wait for the keys page: until it renders, the Documents page's "Search by name" field
    # is still there and a loose "Name" label would fill it instead.
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    page.get_by_label("Name", exact=True).fill("ci bot")
    page.get_by_label("Limited to").select_option("reader")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator(".secret-value")
    expect(secret).to_have_text(_startswith("ragd_"))
    new_key = secret.inner_text()
    me = httpx.get(base + "/api/v1/me", headers={"X-API-Key": new_key}).json()
    assert me["tenant_id"] == "acme" and me["role"] == "reader"  # an admin's key, limited
    row = page.locator("tbody tr").filter(has_text="ci bot")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("reader")
    page.screenshot(path=str(screenshots / "admin-keys.png"), full_page=True)
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke ci bot").click()
    expect(row).to_contain_text("revoked")
    assert httpx.get(base + "/api/v1/me", headers={"X-API-Key": new_key}).status_code == 401

    nav.get_by_role("link", name="Audit log").click()
    expect(page.locator("tbody")).to_contain_text("key.revoke")
    expect(page.locator("tbody")).to_contain_text("key.create")
    page.screenshot(path=str(screenshots / "admin-audit.png"), full_page=True)

    nav.get_by_role("link", name="Usage").click()
    expect(page.locator(".totals")).to_contain_text("Tenant acme")
    page.screenshot(path=str(screenshots / "admin-usage-tenant.png"), full_page=True)

    # A platform-admin page named directly: refused by the UI as well as the API.
    page.goto(base + "/#/admin/tenants")
    expect(page.get_by_role("alert")).to_contain_text("needs the platform admin role")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_reader_sees_no_admin_pages_or_upload(page: Any, secured: dict[str, str]) -> None:
    base = secured["base"]
    admin = {"X-API-Key": secured["acme"]}
    user = httpx.post(
        base + "/admin/users", json={"name": "rita", "role": "reader"}, headers=admin
    ).json()
    key = httpx.post(base + "/admin/keys", json={"user_id": user["id"]}, headers=admin).json()[
        "key"
    ]
    page.goto(base + "/#/library")
    _sign_in(page, key)
    expect(page.get_by_test_id("who")).to_contain_text("tenant acme · reader")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Chat", "Documents"]
    )
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_visible()
    expect(page.get_by_text("Choose files…")).to_have_count(0)


def test_platform_admin_tenants_and_usage(
    page: Any, secured: dict[str, str], screenshots: Path
) -> None:
    page.goto(secured["base"] + "/")
    _sign_in(page, secured["platform"])
    expect(page.get_by_test_id("who")).to_contain_text("platform admin")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Tenants").click()
    expect(page.locator("tbody")).to_contain_text("acme")
    page.get_by_label("Tenant id").fill("globex")
    page.get_by_label("Display name").fill("Globex")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.locator(".secret-value")).to_have_text(_startswith("ragd_"))
    expect(page.locator("tbody tr").filter(has_text="globex")).to_contain_text("active")
    page.screenshot(path=str(screenshots / "admin-tenants.png"), full_page=True)

    nav.get_by_role("link", name="Usage").click()
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text="acme")).to_have_count(1)
    expect(rows.filter(has_text="globex")).to_have_count(1)
    page.screenshot(path=str(screenshots / "admin-usage.png"), full_page=True)

    # Keys of another tenant, through the tenant picker.
    nav.get_by_role("link", name="API keys").click()
    page.get_by_label("Tenant").select_option("acme")
    expect(page.get_by_label("For user")).to_contain_text("admin (tenant_admin)")
    expect(page.locator("tbody")).to_contain_text("initial admin key")
