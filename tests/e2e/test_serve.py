"""A live ``ragd serve`` on a free port, driven over real HTTP like a user would.

Real files made by real libraries go in over multipart; the default embedding model
indexes them; the answer must cite the passage that holds the fact. The same question then
goes through the official ``openai`` SDK (plain and streaming) and a real SSE client.
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse

from tests.live import Server

pytestmark = pytest.mark.slow

FACT = (
    "The lighthouse on Skerrow Island was automated in 1987, after its last keeper, "
    "Agnes Brody, retired."
)


def _docx() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading("Skerrow Island", level=0)
    d.add_heading("History", level=1)
    d.add_paragraph("Skerrow Island lies twelve miles off the northern coast.")
    d.add_paragraph(FACT)
    d.add_heading("Wildlife", level=1)
    d.add_paragraph("Puffins nest on the western cliffs every summer.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [
        Paragraph("Sourdough bread rises because wild yeast ferments the flour.", styles["Normal"]),
        PageBreak(),
        Paragraph("A starter must be fed with flour and water every day.", styles["Normal"]),
    ]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Baking Notes").build(story)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "warning",
    }
    server = Server(env, data / "serve.log")
    try:
        yield server.base
    finally:
        rc = server.stop()
        # uvicorn shuts down gracefully, then re-raises the signal it captured.
        assert rc in (0, -signal.SIGTERM), server.stderr()[-2000:]


@pytest.fixture(scope="module")
def uploaded(server: str) -> dict[str, str]:
    files = {
        "island": (
            "skerrow.docx",
            _docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        "bread": ("baking.pdf", _pdf(), "application/pdf"),
        "bees": (
            "bees.md",
            b"# Bees\n\nHoneybees tell nest mates the distance to flowers with a waggle dance.",
            "text/markdown",
        ),
    }
    ids = {}
    with httpx.Client(base_url=server, timeout=30) as c:
        for key, f in files.items():
            r = c.post("/api/v1/documents", files={"file": f})
            assert r.status_code == 202, r.text
            ids[key] = r.json()["id"]
        deadline = time.monotonic() + 180
        for doc_id in ids.values():
            while True:
                doc = c.get(f"/api/v1/documents/{doc_id}").json()
                if doc["status"] in ("indexed", "failed"):
                    assert doc["status"] == "indexed", doc
                    break
                assert time.monotonic() < deadline, doc
                time.sleep(0.2)
    return ids


QUESTION = "When was the Skerrow Island lighthouse automated?"


def test_query_cites_the_uploaded_passage(server: str, uploaded: dict[str, str]) -> None:
    r = httpx.post(server + "/api/v1/query", json={"query": QUESTION}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert "1987" in body["answer"]
    island = [c for c in body["citations"] if c["document_id"] == uploaded["island"]]
    assert island and all(c["supported"] for c in island)
    assert any("1987" in c["quote"] for c in island)
    assert body["citations"][0]["title"] == "Skerrow Island"


def test_pdf_pages_come_back_in_citations(server: str, uploaded: dict[str, str]) -> None:
    body = httpx.post(
        server + "/api/v1/query",
        json={"query": "How often must a sourdough starter be fed?"},
        timeout=60,
    ).json()
    bread = [c for c in body["citations"] if c["document_id"] == uploaded["bread"]]
    assert bread and bread[0]["page"] == 2 and "every day" in bread[0]["quote"]


def test_openai_sdk_plain_and_streaming(server: str, uploaded: dict[str, str]) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused-until-auth", max_retries=0)
    assert "ragd" in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(
        model="ragd", messages=[{"role": "user", "content": QUESTION}]
    )
    text = reply.choices[0].message.content or ""
    assert "1987" in text and "[1]" in text and "Skerrow Island" in text
    citations = reply.model_extra["citations"]  # type: ignore[index]
    assert citations[0]["document_id"] == uploaded["island"]
    stream = client.chat.completions.create(
        model="ragd",  # another wording: a cached answer would report zero usage
        messages=[
            {
                "role": "user",
                "content": "In which year was the lighthouse on Skerrow Island automated?",
            }
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    streamed = "".join(pieces)
    assert "1987" in streamed and "[1]" in streamed
    assert finish == "stop" and usage is not None and usage.total_tokens > 0


def test_sse_stream_read_by_a_real_sse_client(server: str, uploaded: dict[str, str]) -> None:
    import json

    with (
        httpx.Client(base_url=server, timeout=60) as c,
        connect_sse(c, "POST", "/api/v1/query", json={"query": QUESTION, "stream": True}) as source,
    ):
        events = [(e.event, json.loads(e.data)) for e in source.iter_sse()]
    kinds = [k for k, _ in events]
    assert kinds[0] == "token" and kinds[-2:] == ["citations", "done"]
    text = "".join(d["text"] for k, d in events if k == "token")
    assert "1987" in text and text == events[-1][1]["answer"]
    assert events[-2][1]["citations"][0]["document_id"] == uploaded["island"]


def test_each_request_is_logged_once(tmp_path: Path) -> None:
    """ragd logs every request itself (with tenant and request id); uvicorn's own access
    line used to come back through the root logger and double every request."""
    env = {**os.environ, "RAGD_DATA_DIR": str(tmp_path), "LOG_LEVEL": "info"}
    server = Server(env, tmp_path / "serve.log")
    try:
        marker = "/api/v1/documents?limit=3&offset=0"
        with httpx.Client(base_url=server.base, timeout=30) as c:
            assert c.get(marker).status_code == 200
        time.sleep(0.5)
    finally:
        server.stop()
    lines = [ln for ln in server.stderr().splitlines() if "/api/v1/documents" in ln]
    assert len(lines) == 1, lines
