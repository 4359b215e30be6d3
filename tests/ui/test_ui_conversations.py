"""Conversations, feedback and the answers page in the browser, and the question form that
must never cover the newest answer, at common window sizes (laptop 1366x768, desktop
1920x1080, phone 390x844). Screenshots of each size go to test-artifacts/screenshots/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import playwright_expect

pytestmark = [pytest.mark.ui, pytest.mark.slow]
expect = playwright_expect()

SIZES = [(1366, 768), (1920, 1080), (390, 844)]
VOLCANO = (
    "Mount Halvard is a stratovolcano on the island of Orrin whose last eruption, in 1911, "
    "buried the harbour town of Vessby under ash that was more than two metres deep in places. "
    "The eruption of Mount Halvard began with weeks of small earthquakes that the fishermen "
    "of Vessby described as the sea itself shivering beneath their boats every night. "
    "Mount Halvard is monitored today by an observatory built on its northern flank in 1962, "
    "which records ground movement, gas emissions and the temperature of its crater lake. "
    "The crater lake of Mount Halvard turns a milky green colour whenever the volcano's "
    "sulphur emissions rise, which the observatory treats as an early sign of unrest. "
    "Vessby was rebuilt after the eruption three kilometres further east, on older lava "
    "flows that geologists judged to be out of the path of future ash falls and mudflows."
)
QUESTIONS = [
    "When did Mount Halvard last erupt and what did the eruption bury?",
    "How is it monitored today?",
    "What colour does its crater lake turn when emissions rise?",
    "Where was Vessby rebuilt after the eruption?",
]


@pytest.fixture(scope="module")
def server(start_server: Any) -> str:
    srv, _env = start_server()
    r = httpx.post(srv.base + "/api/v1/documents", json={"text": VOLCANO, "title": "Halvard"})
    assert r.status_code == 202, r.text
    doc = r.json()["id"]
    deadline = time.monotonic() + 60
    while httpx.get(f"{srv.base}/api/v1/documents/{doc}").json()["status"] != "indexed":
        assert time.monotonic() < deadline, "the document was not indexed in time"
        time.sleep(0.1)
    return srv.base


def _ask(page: Any, text: str) -> Any:
    page.get_by_role("textbox", name="Question").fill(text)
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".answer").last
    expect(answer).to_have_attribute("aria-busy", "false", timeout=30_000)
    expect(answer.get_by_role("button", name="Yes, a good answer")).to_be_visible()
    return answer


def _not_covered(page: Any, answer: Any) -> None:
    """The newest answer's last line is in the window and above the question form."""
    page.wait_for_timeout(100)  # let a smooth scroll settle
    box = answer.bounding_box()
    form = page.locator("form.ask").bounding_box()
    height = page.viewport_size["height"]
    bottom = box["y"] + box["height"]
    assert bottom <= form["y"] + 0.5, (
        f"the form (top {form['y']}) covers the answer (bottom {bottom})"
    )
    assert bottom <= height, "the answer's end is below the window"


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_form_never_covers_the_newest_answer(
    browser: Any, server: str, screenshots: Path, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server + "/#/chat")
        for question in QUESTIONS:
            answer = _ask(page, question)
            _not_covered(page, answer)
        # The follow-up was searched with the name its pronoun stands for.
        expect(page.locator(".answer").nth(1).locator(".meta")).to_contain_text("Halvard")
        expect(page.locator(".answer").nth(1)).to_contain_text("observatory")
        page.screenshot(path=str(screenshots / f"chat-{width}x{height}.png"))
        # Reopened from the list, the conversation shows every turn, newest in view.
        page.get_by_role("button", name="New conversation").click()
        expect(page.locator(".answer")).to_have_count(0)
        page.get_by_role("list", name="Conversations").get_by_role(
            "button", name=QUESTIONS[0]
        ).first.click()
        expect(page.locator(".answer")).to_have_count(len(QUESTIONS))
        answer = _ask(page, "What did the fishermen describe?")
        _not_covered(page, answer)
        expect(answer).to_contain_text("shivering")
    finally:
        context.close()
    assert not errors, errors


def test_conversation_list_feedback_and_answers_page(
    page: Any, server: str, screenshots: Path
) -> None:
    page.goto(server + "/#/chat")
    page.get_by_role("button", name="New conversation").click()
    answer = _ask(page, "What does the observatory on Mount Halvard record?")
    conversations = page.get_by_role("list", name="Conversations")
    item = conversations.get_by_role("listitem").filter(has_text="observatory on Mount Halvard")
    expect(item).to_have_count(1)

    # Feedback: thumbs down with a reason and a comment, then a thumbs up on a declined one.
    answer.get_by_role("button", name="No, a bad answer").click()
    answer.get_by_label("Reason").select_option("incomplete")
    answer.get_by_label("Comment (optional)").fill("no dates")
    answer.get_by_role("button", name="Send").click()
    expect(answer.get_by_role("status")).to_have_text("Thanks: feedback sent.")
    expect(answer.get_by_role("button", name="No, a bad answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_label("Filters").fill("topic=none")  # nothing matches: the question is declined
    declined = _ask(page, "Zyxqv wombat saxophone?")
    expect(declined.locator(".meta")).to_contain_text("not found in your documents")
    page.get_by_label("Filters").fill("")
    declined.get_by_role("button", name="Yes, a good answer").click()
    expect(declined.get_by_role("status")).to_have_text("Thanks: feedback sent.")

    # Rename, share, then delete from the list.
    page.once("dialog", lambda d: d.accept("Observatory notes"))
    item.get_by_role("button", name="Rename").click()
    item = conversations.get_by_role("listitem").filter(has_text="Observatory notes")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Share Observatory notes").click()
    expect(item.locator(".badge")).to_have_text("shared")
    page.screenshot(path=str(screenshots / "conversations.png"), full_page=True)

    # The answers page (tenant admins): counts, the reason, the unanswered question.
    page.get_by_role("link", name="Answers").click()
    expect(page.get_by_role("heading", name="Answers", level=1)).to_be_visible()
    expect(page.get_by_test_id("negative")).to_have_text("1")
    expect(page.get_by_role("table", name="Reasons for negative feedback")).to_contain_text(
        "Incomplete"
    )
    expect(page.get_by_role("table", name="Declined questions asked most often")).to_contain_text(
        "zyxqv wombat saxophone?"
    )
    page.screenshot(path=str(screenshots / "answers.png"), full_page=True)

    page.get_by_role("link", name="Chat").click()
    item = conversations.get_by_role("listitem").filter(has_text="Observatory notes")
    page.once("dialog", lambda d: d.accept())
    item.get_by_role("button", name="Delete Observatory notes").click()
    expect(item).to_have_count(0)
