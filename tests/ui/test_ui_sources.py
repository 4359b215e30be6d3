"""The Sources page in a browser: add a folder source, watch its first run land, run it
again after a change, remove it (with its documents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import playwright_expect

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()


def test_sources_page(page: Any, start_server: Any, tmp_path: Path, screenshots: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "owls.md").write_text("# Owls\nOwls hunt at night.")
    (share / "moles.txt").write_text("Moles dig tunnels.")
    # The folder watch off: its own run after the delete would replace the "Run now" run's
    # counts on the card (tests/integration/test_source_watch.py covers the watch).
    srv, _env = start_server(RAGD_SOURCES_FOLDER_ROOTS=str(share), RAGD_SOURCES_WATCH="false")
    page.goto(srv.base + "/#/sources")
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    page.get_by_label("Kind").select_option("folder")
    page.get_by_label("Name").fill("share")
    page.get_by_label("Folder on the server").fill(str(share))
    page.get_by_role("button", name="Add").click()
    card = page.locator("[data-testid=sources] article").filter(has_text="share")
    expect(card).to_have_attribute("data-outcome", "success", timeout=30_000)
    expect(card).to_contain_text("added 2")
    page.screenshot(path=str(screenshots / "sources.png"), full_page=True)

    (share / "moles.txt").unlink()
    card.get_by_role("button", name="Run share now").click()
    expect(card).to_contain_text("deleted 1", timeout=30_000)

    page.on("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Remove share").click()
    expect(page.locator("[data-testid=sources]")).to_contain_text("No sources yet.")
