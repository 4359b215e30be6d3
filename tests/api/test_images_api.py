"""Images in documents through the real HTTP API: a PDF with a typed page, a chart image
and a photographed page is uploaded and parsed in the real sandbox; a question only the
chart's text answers is answered with a citation to the image chunk."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client, wait_indexed
from tests.image_docs import report_pdf

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    data_dir: Path = tmp_path_factory.mktemp("images") / "data"
    with make_client(
        data_dir,
        parse_timeout_seconds=900,
        ocr_page_timeout_seconds=300,
        ocr_document_timeout_seconds=600,
    ) as c:
        yield c  # type: ignore[misc]


def test_a_question_only_the_chart_answers_cites_the_image_chunk(client: TestClient) -> None:
    r = client.post(
        "/api/v1/documents", files={"file": ("report.pdf", report_pdf(), "application/pdf")}
    )
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"], timeout=240)
    assert doc["status"] == "indexed", doc

    r = client.post(
        "/api/v1/query", json={"query": "How many units did Zorblat sales peak at in Q4?"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["citations"], body
    cited = body["citations"][0]
    passage = body["passages"][cited["n"] - 1]
    assert cited["document_id"] == doc["id"] and cited["page"] == 1
    assert passage["chunk_id"] == cited["chunk_id"]
    assert passage["chunk_metadata"]["kind"] == "image", passage
    assert passage["chunk_metadata"]["bbox"] and "8412" in cited["quote"]
