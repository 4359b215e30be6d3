"""Collections in the browser: the library uploads into a chosen collection and filters by
it, the chat offers the collections to search, and the Members page adds a group and a
grant (the local mode has no user accounts to add as members: the API tests do that)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import playwright_expect

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()


def test_collection_picker_and_members_page(
    page: Any, start_server: Any, screenshots: Path
) -> None:
    srv, _env = start_server()
    made = httpx.post(srv.base + "/api/v1/collections", json={"id": "hr", "name": "HR"})
    assert made.status_code == 201, made.text

    page.goto(srv.base + "/#/library")
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    target = page.get_by_label("Upload to collection")
    expect(target.locator("option[value=hr]")).to_have_count(1)
    target.select_option("hr")
    page.get_by_label("Choose files…").set_input_files(
        [{"name": "pay.md", "mimeType": "text/markdown", "buffer": b"# Pay\nSalaries rise in May."}]
    )
    row = page.locator("table.docs tbody tr").filter(has_text="pay.md")
    expect(row).to_have_attribute("data-status", "indexed", timeout=30_000)
    expect(row).to_contain_text("hr")
    page.get_by_label("Collection", exact=True).select_option("default")
    expect(page.locator("table.docs tbody tr").filter(has_text="pay.md")).to_have_count(0)
    page.get_by_label("Collection", exact=True).select_option("hr")
    expect(page.locator("table.docs tbody tr").filter(has_text="pay.md")).to_have_count(1)

    page.goto(srv.base + "/#/chat")
    expect(page.get_by_label("Collection").locator("option[value=hr]")).to_have_count(1)

    page.goto(srv.base + "/#/admin/members")
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    page.get_by_label("Group id").fill("legal")
    page.get_by_label("Group name").fill("Legal team")
    page.get_by_role("button", name="Add group").click()
    card = page.locator("[data-group=legal]")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Legal team")
    page.get_by_label("Collection").select_option("hr")
    page.get_by_label("Principal").fill("g:legal")
    page.get_by_label("Level").select_option("read")
    page.get_by_role("button", name="Save grant").click()
    grants = page.locator("[data-testid=grants] tbody tr").filter(has_text="g:legal")
    expect(grants).to_contain_text("read")
    page.screenshot(path=str(screenshots / "members.png"), full_page=True)
