"""Images in documents through the real HTTP API: a PDF with a typed page, a chart image
and a photographed page is uploaded and parsed in the real sandbox; a question only the
chart's text answers is answered with a citation to the image chunk; with the fake
vision server (OpenAI wire format) the caption is stored and searchable, and with a dead
one OCR alone still indexes the image."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client, wait_indexed
from tests.fakes.openai_server import VISION_CAPTION, FakeOpenAIServer
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


def upload(client: TestClient) -> dict:  # type: ignore[type-arg]
    r = client.post(
        "/api/v1/documents",
        files={"file": ("report.pdf", report_pdf(photographed=False), "application/pdf")},
    )
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"], timeout=240)
    assert doc["status"] == "indexed", doc
    return doc  # type: ignore[no-any-return]


def image_hit(client: TestClient, query: str) -> dict:  # type: ignore[type-arg]
    r = client.post("/api/v1/search", json={"query": query, "mode": "sparse", "top_k": 3})
    assert r.status_code == 200, r.text
    return r.json()["hits"][0]  # type: ignore[no-any-return]


def test_with_a_vision_server_the_caption_is_stored_and_searchable(tmp_path: Path) -> None:
    with FakeOpenAIServer(models=["fake-vision"]) as server:
        with make_client(
            tmp_path / "data",
            vision_provider="openai-compatible",
            vision_model="fake-vision",
            vision_base_url=server.base_url,
            parse_timeout_seconds=900,
            ocr_document_timeout_seconds=600,
        ) as c:
            doc = upload(c)
            hit = image_hit(c, "quokka blue bar chart")
        [request] = server.chat_requests()
    assert hit["document_id"] == doc["id"] and hit["chunk_metadata"]["kind"] == "image"
    assert hit["chunk_metadata"]["caption_model"] == "fake-vision"
    # The caption names the preview's size: the image itself reached the server.
    assert f"{VISION_CAPTION} (768x427 pixels)." in hit["text"] and "8412" in hit["text"]
    content = request.body["messages"][0]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_dead_vision_server_leaves_ocr_alone(tmp_path: Path) -> None:
    with make_client(
        tmp_path / "data",
        vision_provider="openai-compatible",
        vision_model="fake-vision",
        vision_base_url="http://127.0.0.1:9/v1",
        vision_timeout_seconds=2,
        parse_timeout_seconds=900,
        ocr_document_timeout_seconds=600,
    ) as c:
        doc = upload(c)
        hit = image_hit(c, "Zorblat sales Q4 units")
    assert hit["document_id"] == doc["id"] and hit["chunk_metadata"]["kind"] == "image"
    assert "caption_model" not in hit["chunk_metadata"] and "8412" in hit["text"]


def test_the_thumbnail_route_is_checked_like_a_document_read(tmp_path: Path) -> None:
    import io
    import time
    import uuid

    from PIL import Image

    from ragd.domain.accounts import Role

    with make_client(
        tmp_path / "data",
        auth="required",
        parse_timeout_seconds=900,
        ocr_document_timeout_seconds=600,
    ) as c:
        svc = c.app.state.services  # type: ignore[attr-defined]
        keys: dict[str, str] = {}
        users: dict[str, str] = {}
        for tenant in ("a", "b"):
            made = svc.account_admin.create_tenant(f"img{tenant}{uuid.uuid4().hex[:8]}")
            keys[f"{tenant}-admin"] = made.key.plaintext
            if tenant == "a":
                for name in ("bob", "cy"):
                    user = svc.accounts.create_user(made.tenant.id, name, None, Role.READER)
                    keys[name] = svc.account_admin.issue_key(made.tenant.id, user.id).plaintext
                    users[name] = user.id

        def h(who: str) -> dict[str, str]:
            return {"X-API-Key": keys[who]}

        r = c.post(
            "/api/v1/documents",
            files={"file": ("r.pdf", report_pdf(photographed=False), "application/pdf")},
            data={"readers": f'["u:{users["bob"]}"]'},
            headers=h("a-admin"),
        )
        assert r.status_code == 202, r.text
        doc_id = r.json()["id"]
        for _ in range(2400):
            doc = c.get(f"/api/v1/documents/{doc_id}", headers=h("a-admin")).json()
            if doc["status"] in ("indexed", "failed"):
                break
            time.sleep(0.1)
        assert doc["status"] == "indexed", doc
        chunks = {
            hit["chunk_metadata"].get("kind", "text"): hit["chunk_id"]
            for hit in c.post(
                "/api/v1/search",
                json={"query": "Zorblat sales annual report widget", "mode": "sparse"},
                headers=h("a-admin"),
            ).json()["hits"]
        }
        url = f"/api/v1/documents/{doc_id}/chunks/{chunks['image']}/image"

        for who in ("a-admin", "bob"):
            r = c.get(url, headers=h(who))
            assert r.status_code == 200 and r.headers["content-type"] == "image/png", who
            assert Image.open(io.BytesIO(r.content)).size == (768, 427)
        for who in ("cy", "b-admin"):  # not on the allow-list; another tenant
            r = c.get(url, headers=h(who))
            assert r.status_code == 404, (who, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        text_chunk = f"/api/v1/documents/{doc_id}/chunks/{chunks['text']}/image"
        assert c.get(text_chunk, headers=h("a-admin")).status_code == 404
        assert c.get(url, headers={}).status_code == 401

        assert c.delete(f"/api/v1/documents/{doc_id}", headers=h("a-admin")).status_code == 204
        assert c.get(url, headers=h("a-admin")).status_code == 404
        with svc.engine.connect() as conn:  # the row went with the document (SQLite: no RLS)
            assert conn.exec_driver_sql("SELECT count(*) FROM chunk_images").scalar() == 0


def photo_png() -> bytes:
    """A picture with no text in it: concentric shapes on a gradient (OCR reads nothing)."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 400), (40, 90, 160))
    draw = ImageDraw.Draw(img)
    for i in range(8):
        draw.ellipse(
            (40 + 20 * i, 30 + 15 * i, 600 - 20 * i, 370 - 15 * i), outline=(250, 200 - 20 * i, 60)
        )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def upload_photo(c: TestClient) -> dict:  # type: ignore[type-arg]
    r = c.post("/api/v1/documents", files={"file": ("photo.png", photo_png(), "image/png")})
    assert r.status_code == 202, r.text
    return wait_indexed(c, r.json()["id"], timeout=240)


def test_a_photo_without_text_is_captioned_by_the_vision_model(tmp_path: Path) -> None:
    with (
        FakeOpenAIServer(models=["fake-vision"]) as server,
        make_client(
            tmp_path / "data",
            vision_provider="openai-compatible",
            vision_model="fake-vision",
            vision_base_url=server.base_url,
            parse_timeout_seconds=900,
            ocr_document_timeout_seconds=600,
        ) as c,
    ):
        doc = upload_photo(c)
        assert doc["status"] == "indexed", doc
        hit = image_hit(c, "quokka blue bar chart")
        thumb = c.get(f"/api/v1/documents/{doc['id']}/chunks/{hit['chunk_id']}/image")
    assert hit["document_id"] == doc["id"] and hit["chunk_metadata"]["kind"] == "image"
    assert hit["text"].startswith(f"Image: {VISION_CAPTION} (640x400 pixels).")
    assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/")


def test_a_photo_without_text_and_no_vision_model_fails_with_the_setting_named(
    tmp_path: Path,
) -> None:
    with make_client(
        tmp_path / "data", parse_timeout_seconds=900, ocr_document_timeout_seconds=600
    ) as c:
        doc = upload_photo(c)
    assert doc["status"] == "failed", doc
    assert "OCR found no text" in doc["error"] and "RAGD_VISION_PROVIDER" in doc["error"]
