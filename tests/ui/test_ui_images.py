"""An image chunk cited in the chat shows its picture: a PDF with a chart is uploaded to a
live ``ragd serve`` (auth required: the picture is fetched with the credential, since an
``<img src>`` cannot send it), a question only the chart answers is asked, and the chart
appears under the sources and in the passage dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.image_docs import report_pdf
from tests.ui.conftest import playwright_expect, ragd_cli

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()

LOADED = "(img) => img.complete && img.naturalWidth"


def test_a_cited_image_chunk_shows_its_picture(
    page: Any, start_server: Any, screenshots: Path
) -> None:
    srv, env = start_server(RAGD_AUTH="required", RAGD_OCR_DOCUMENT_TIMEOUT_SECONDS="300")
    key = ragd_cli(env, "admin", "create-tenant", "imgs")["key"]
    page.goto(srv.base + "/")
    page.get_by_label("API key or JWT").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Documents").click()
    page.get_by_label("Choose files…").set_input_files(
        [{"name": "report.pdf", "mimeType": "application/pdf", "buffer": report_pdf()}]
    )
    row = page.locator("table.docs tbody tr").filter(has_text="report")
    expect(row).to_have_attribute("data-status", "indexed", timeout=120_000)

    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Retrieval").select_option("sparse")
    page.get_by_role("textbox", name="Question").fill(
        "How many units did Zorblat sales peak at in Q4?"
    )
    page.get_by_role("textbox", name="Question").press("Enter")
    answer = page.locator(".answer").last
    expect(answer).to_have_attribute("aria-busy", "false")
    thumb = answer.locator(".sources img.source-thumb").first
    expect(thumb).to_have_attribute(
        "alt", "Image on page 1: Zorblat sales peaked in Q4 at 8412 units"
    )
    page.wait_for_function(LOADED, arg=thumb.element_handle())
    assert thumb.evaluate("(img) => img.naturalWidth") == 768

    answer.locator(".answer-text button.cite").first.click()
    dialog = page.get_by_role("dialog")
    picture = dialog.locator("img.passage-image")
    expect(picture).to_be_visible()
    page.wait_for_function(LOADED, arg=picture.element_handle())
    expect(dialog.locator(".passage-text")).to_contain_text("8412")
    page.screenshot(path=str(screenshots / "passage-image.png"), full_page=True)
