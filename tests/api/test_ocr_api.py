"""OCR through the real HTTP API: a PDF with typed and scanned pages, and images, are
uploaded, parsed in the real sandbox by the default engine, and found by search on the
right page, with the OCR confidence on the chunks read by OCR."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client, wait_indexed
from tests.ocr_samples import PARAGRAPHS, Sample, image_bytes, mixed_pdf, tiff_pages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    data_dir: Path = tmp_path_factory.mktemp("ocr") / "data"
    # Time bounds wide enough for a shared test machine; the bounds have tests of their own.
    with make_client(
        data_dir,
        chunk_tokens=128,
        chunk_overlap=8,
        parse_timeout_seconds=900,
        ocr_page_timeout_seconds=300,
        ocr_document_timeout_seconds=600,
    ) as c:
        yield c  # type: ignore[misc]


def search(client: TestClient, query: str) -> list[dict]:  # type: ignore[type-arg]
    r = client.post("/api/v1/search", json={"query": query, "mode": "sparse", "top_k": 3})
    assert r.status_code == 200, r.text
    return r.json()["hits"]  # type: ignore[no-any-return]


def test_a_mixed_pdf_is_searchable_on_its_text_and_its_scanned_pages(client: TestClient) -> None:
    pdf = mixed_pdf(
        [
            PARAGRAPHS[0],
            Sample(PARAGRAPHS[1], "vera-sans", 30),
            PARAGRAPHS[2],
            Sample(PARAGRAPHS[3], "times", 30, skew=1.5, noise=0.3),
        ]
    )
    r = client.post("/api/v1/documents", files={"file": ("mixed.pdf", pdf, "application/pdf")})
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"], timeout=240)
    assert doc["status"] == "indexed", doc

    for query, page, scanned in [
        ("Rotterdam warehouse operating costs", 1, False),
        ("invoice reference AB-7731", 2, True),
        ("thylakoid membranes Calvin cycle", 3, False),
        ("filter every 500 hours", 4, True),
    ]:
        top = search(client, query)[0]
        assert top["document_id"] == doc["id"] and top["page"] == page, (query, top)
        if scanned:
            assert top["chunk_metadata"]["ocr_engine"] == "rapidocr"
            assert 0.5 < top["chunk_metadata"]["ocr_confidence"] <= 1.0
        else:
            assert top["chunk_metadata"] == {}


@pytest.mark.parametrize(
    ("name", "media_type", "fmt"),
    [("note.png", "image/png", "PNG"), ("note.jpg", "image/jpeg", "JPEG")],
)
def test_an_image_upload_is_read_and_searchable(
    client: TestClient, name: str, media_type: str, fmt: str
) -> None:
    text = f"Whiteboard {fmt} photo: the launch moves to Thursday, budget code QX-{len(fmt)}41."
    data = image_bytes(Sample(text, "vera-sans", 36), fmt)
    r = client.post("/api/v1/documents", files={"file": (name, data, media_type)})
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"], timeout=120)
    assert doc["status"] == "indexed" and doc["media_type"] == media_type, doc

    top = search(client, f"whiteboard {fmt} launch Thursday")[0]
    assert top["document_id"] == doc["id"] and top["page"] == 1
    assert top["chunk_metadata"]["ocr_engine"] == "rapidocr"


def test_a_multi_page_tiff_keeps_its_page_numbers(client: TestClient) -> None:
    data = tiff_pages(
        [
            Sample("Fax cover sheet for the Oslo office", "vera-sans", 36),
            Sample("Second page: the signed lease for unit 14B", "vera-sans", 36),
        ]
    )
    r = client.post("/api/v1/documents", files={"file": ("fax.tif", data, "image/tiff")})
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"], timeout=120)
    assert doc["status"] == "indexed", doc

    assert search(client, "signed lease unit 14B")[0]["page"] == 2
    assert search(client, "fax cover Oslo")[0]["page"] == 1
