"""The main flow with authentication off (an embedded server on loopback): upload by drag
and drop and by the file picker, watch the status go to indexed (and to failed, with the
error, for bad files), search by name, ask a question, see the streamed answer, open a
citation's passage with the quote highlighted, retry and delete."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import playwright_expect

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()

FACT = "The lighthouse on Skerrow Island was automated in 1987, after its last keeper, Agnes Brody, retired."
SKERROW = f"""# Skerrow Island

## History

Skerrow Island lies twelve miles off the northern coast. {FACT}

## Wildlife

Puffins nest on the western cliffs every summer.
"""


def _pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [
        Paragraph("Sourdough bread rises because wild yeast ferments the flour.", styles["Normal"]),
        PageBreak(),
        Paragraph(
            "A sourdough starter must be fed with flour and water every day.", styles["Normal"]
        ),
    ]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Baking Notes").build(story)
    return buf.getvalue()


DROP = """([files, selector]) => {
  const dt = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const zone = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }
}"""


def _drop(page: Any, files: list[tuple[str, bytes, str]]) -> None:
    payload = [{"name": n, "b64": base64.b64encode(b).decode(), "type": t} for n, b, t in files]
    page.evaluate(DROP, [payload, "[data-testid=dropzone]"])


def _row(page: Any, name: str) -> Any:
    return page.locator("table.docs tbody tr").filter(has_text=name)


@pytest.fixture(scope="module")
def server(start_server: Any) -> str:
    srv, _env = start_server()
    return srv.base


def test_library_chat_and_citations(page: Any, server: str, screenshots: Path) -> None:
    page.goto(server + "/")
    expect(page.get_by_test_id("who")).to_contain_text("auth off")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it works
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    assert "#main" not in page.url  # the router keeps the page
    expect(page.get_by_test_id("who")).to_contain_text("platform admin")
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_focused()

    # Several files by drag and drop, with metadata: one good, one corrupt PDF (fails
    # while parsing).
    page.get_by_label("Metadata for new files").fill("topic=islands, year=2024")
    _drop(
        page,
        [
            ("skerrow.md", SKERROW.encode(), "text/markdown"),
            ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "application/pdf"),
        ],
    )
    # More through the file picker: a real PDF, and an empty file (rejected at upload).
    page.get_by_label("Metadata for new files").fill("")
    page.get_by_label("Choose files…").set_input_files(
        [
            {"name": "baking.pdf", "mimeType": "application/pdf", "buffer": _pdf()},
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
        ]
    )
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_role("listitem").filter(has_text="empty.txt")).to_contain_text("failed:")
    expect(uploads.get_by_role("listitem").filter(has_text="skerrow.md")).to_contain_text("queued")

    expect(_row(page, "skerrow.md")).to_have_attribute("data-status", "indexed", timeout=30_000)
    expect(_row(page, "Baking Notes")).to_have_attribute("data-status", "indexed", timeout=30_000)
    broken = _row(page, "broken.pdf")
    expect(broken).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(broken.locator(".doc-error")).not_to_be_empty()
    empty = _row(page, "empty.txt")
    expect(empty).to_have_attribute("data-status", "failed")
    expect(empty.locator(".doc-error")).to_contain_text("empty")
    page.screenshot(path=str(screenshots / "library.png"), full_page=True)

    # Search by name.
    page.get_by_label("Search by name").fill("skerrow")
    expect(page.locator("table.docs tbody tr")).to_have_count(1)
    page.get_by_label("Search by name").fill("")
    expect(page.locator("table.docs tbody tr")).to_have_count(4)

    # Retry the corrupt PDF: it is queued again and fails again, with its error.
    broken.get_by_role("button", name="Retry").click()
    expect(page.locator("#announcer")).to_have_text("Queued broken again")
    expect(broken).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(broken.locator(".doc-error")).not_to_be_empty()

    # Chat: the answer streams (SSE), then [n] become buttons that open the passage.
    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Retrieval").select_option("hybrid")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    page.get_by_role("textbox", name="Question").fill(
        "When was the lighthouse on Skerrow Island automated?"
    )
    with page.expect_response("**/api/v1/query") as resp:
        page.get_by_role("textbox", name="Question").press("Enter")
    assert resp.value.headers["content-type"].startswith("text/event-stream")
    answer = page.locator(".answer").last
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".answer-text")).to_contain_text("1987")
    cite = answer.locator(".answer-text button.cite").last  # the sentence with the year
    expect(cite).to_be_visible()
    expect(answer.locator(".sources")).to_contain_text("Skerrow")
    page.screenshot(path=str(screenshots / "chat.png"), full_page=True)

    cite.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_contain_text("Skerrow")
    mark = dialog.locator("mark")
    expect(mark).to_contain_text("automated in 1987")
    expect(dialog.locator(".passage-text")).to_contain_text("Skerrow Island lies twelve miles")
    page.screenshot(path=str(screenshots / "passage.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cite).to_be_focused()

    # Metadata filters: the island document matches its own metadata and nothing else.
    page.get_by_label("Filters").fill("topic=islands, year=2024")
    page.get_by_role("textbox", name="Question").fill("Who was the last keeper of the lighthouse?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".answer").nth(1)
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".answer-text")).to_contain_text("Agnes Brody")
    page.get_by_label("Filters").fill("topic=volcanoes")
    page.get_by_role("textbox", name="Question").fill("Who was the last keeper of the lighthouse?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".answer").nth(2)
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".meta")).to_contain_text("not found in your documents")
    expect(answer.locator("button.cite")).to_have_count(0)
    # Bad filter syntax is refused before anything is sent.
    page.get_by_label("Filters").fill("team")
    page.get_by_role("textbox", name="Question").fill("lighthouse")
    page.get_by_role("button", name="Ask").click()
    expect(page.get_by_role("alert")).to_contain_text("not key=value")
    expect(page.get_by_label("Filters")).to_have_attribute("aria-invalid", "true")

    # Delete a document from the library.
    page.get_by_role("link", name="Documents").click()
    row = _row(page, "Baking Notes")
    expect(row).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete Baking Notes").click()
    expect(row).to_have_count(0)
    expect(page.locator("table.docs tbody tr")).to_have_count(3)


def test_unsupported_citations_are_flagged(page: Any, server: str, screenshots: Path) -> None:
    """The extractive answerer only writes supported citations, so the stream is replayed:
    one citation that its passage supports and one that it does not."""
    passage = {
        "chunk_id": "c1",
        "document_id": "d1",
        "title": "Tides",
        "source": "tides.md",
        "text": "Tides rise and fall twice a day. The Moon's gravity causes them.",
        "score": 1.0,
        "page": 3,
        "heading_path": ["Sea"],
        "char_start": 100,
        "char_end": 164,
        "metadata": {},
        "similarity": 0.9,
    }
    quote = "The Moon's gravity causes them."
    start = 100 + passage["text"].index(quote)

    def citation(n: int, supported: bool, sentence: str) -> dict[str, Any]:
        return {
            "n": n,
            "document_id": "d1",
            "chunk_id": "c1",
            "title": "Tides",
            "page": 3,
            "quote": quote,
            "quote_start": start,
            "quote_end": start + len(quote),
            "supported": supported,
            "support": 1.0 if supported else 0.2,
            "sentence": sentence,
        }

    answer = "The Moon causes tides [1]. Tides are made of cheese [1]."
    events = [
        ("token", {"text": "The Moon causes tides [1]. "}),
        ("token", {"text": "Tides are made of cheese [1]."}),
        (
            "citations",
            {
                "citations": [
                    citation(1, True, "The Moon causes tides."),
                    citation(1, False, "Tides are made of cheese."),
                ],
                "passages": [passage],
            },
        ),
        (
            "done",
            {
                "answer": answer,
                "grounded": True,
                "model": "replay",
                "cached": False,
                "timings": {"total_ms": 12.0},
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            },
        ),
    ]
    body = "".join(f"event: {e}\r\ndata: {json.dumps(d)}\r\n\r\n" for e, d in events)
    page.route(
        "**/api/v1/query",
        lambda route: route.fulfill(
            status=200, headers={"content-type": "text/event-stream"}, body=body
        ),
    )
    page.goto(server + "/#/chat")
    page.get_by_role("textbox", name="Question").fill("what causes tides?")
    page.get_by_role("button", name="Ask").click()
    text = page.locator(".answer-text").last
    expect(text).to_have_text("The Moon causes tides [1]. Tides are made of cheese [1]!.")
    good, bad = text.locator("button.cite").all()
    expect(good).to_have_attribute("data-supported", "true")
    expect(bad).to_have_class("cite unsupported")
    expect(bad).to_have_accessible_name("Source 1: Tides, page 3 (not supported by the passage)")
    expect(page.locator(".sources")).to_contain_text("not supported")
    bad.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Page 3")
    expect(dialog.locator(".alert")).to_contain_text("Not supported: only 20%")
    expect(dialog.locator("mark")).to_have_text(quote)
    page.screenshot(path=str(screenshots / "passage-unsupported.png"))


SPLIT_STREAM = """async (chunks) => {
  const { streamEvents } = await import("/ui/js/api.js");
  const realFetch = window.fetch;
  window.fetch = async () => new Response(new ReadableStream({
    start(controller) {
      const enc = new TextEncoder();
      for (const c of chunks) controller.enqueue(enc.encode(c));
      controller.close();
    },
  }), { status: 200, headers: { "content-type": "text/event-stream" } });
  try {
    const out = [];
    for await (const ev of streamEvents("/api/v1/query", {})) out.push([ev.event, ev.data]);
    return out;
  } finally {
    window.fetch = realFetch;
  }
}"""


def test_sse_parser_handles_any_chunking(page: Any, server: str) -> None:
    """Events split anywhere, CRLF split between chunks, comments (pings), multi-line data."""
    page.goto(server + "/#/chat")
    chunks = [
        "event: tok",
        "en\r",
        '\ndata: {"text": "a"}\r\n\r',
        "\n: ping\r\n\r\nevent: citations\ndata: line1\ndata: line2\n\n",
        "event: done\rdata: {}\r\r",
    ]
    assert page.evaluate(SPLIT_STREAM, chunks) == [
        ["token", '{"text": "a"}'],
        ["citations", "line1\nline2"],
        ["done", "{}"],
    ]
