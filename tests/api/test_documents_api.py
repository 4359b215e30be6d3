"""Documents over HTTP: upload (JSON and multipart), idempotency, list, get, delete, retry."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.api.conftest import BEES, TIDES, wait_indexed

PROBLEM = "application/problem+json"


def test_json_text_upload_is_queued_then_indexed(client: TestClient) -> None:
    r = client.post(
        "/api/v1/documents", json={"text": BEES, "title": "Bees", "metadata": {"lang": "en"}}
    )
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued" and body["outcome"] == "queued"
    assert body["title"] == "Bees" and body["metadata"] == {"lang": "en"}
    doc = wait_indexed(client, body["id"])
    assert doc["status"] == "indexed"
    assert doc["chunks"] >= 1 and doc["error"] is None
    assert set(doc) >= {
        "id",
        "title",
        "status",
        "error",
        "chunks",
        "metadata",
        "created_at",
        "updated_at",
    }


def test_same_content_twice_is_unchanged_with_200(client: TestClient) -> None:
    first = client.post("/api/v1/documents", json={"text": BEES})
    again = client.post("/api/v1/documents", json={"text": BEES})
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    assert again.json()["id"] == first.json()["id"]


def test_multipart_file_upload_with_metadata(client: TestClient) -> None:
    r = client.post(
        "/api/v1/documents",
        files={"file": ("tides.md", b"# Tides\n\n" + TIDES.encode(), "text/markdown")},
        data={"metadata": json.dumps({"topic": "sea"})},
    )
    assert r.status_code == 202, r.text
    doc = wait_indexed(client, r.json()["id"])
    assert doc["status"] == "indexed"
    assert doc["source"] == "tides.md"
    # the uploaded key, and what the content says about itself (title, language)
    assert doc["metadata"] == {"topic": "sea", "title": "Tides", "language": "en"}
    assert doc["media_type"] == "text/markdown"


def test_list_paginates_and_filters_by_status(client: TestClient) -> None:
    ids = [
        client.post("/api/v1/documents", json={"text": f"{TIDES} Note {i}."}).json()["id"]
        for i in range(3)
    ]
    for i in ids:
        wait_indexed(client, i)
    client.post("/api/v1/documents", files={"file": ("empty.txt", b"", "text/plain")})
    page = client.get("/api/v1/documents", params={"limit": 2, "offset": 0}).json()
    assert page["total"] == 4 and len(page["documents"]) == 2 and page["limit"] == 2
    rest = client.get("/api/v1/documents", params={"limit": 2, "offset": 2}).json()
    assert {d["id"] for d in page["documents"]}.isdisjoint({d["id"] for d in rest["documents"]})
    failed = client.get("/api/v1/documents", params={"status": "failed"}).json()
    assert failed["total"] == 1 and failed["documents"][0]["source"] == "empty.txt"
    assert "empty" in failed["documents"][0]["error"]
    indexed = client.get("/api/v1/documents", params={"status": "indexed"}).json()
    assert indexed["total"] == 3


def test_delete_removes_document_and_its_passages(client: TestClient) -> None:
    doc_id = client.post("/api/v1/documents", json={"text": BEES}).json()["id"]
    wait_indexed(client, doc_id)
    assert client.post("/api/v1/search", json={"query": "waggle dance"}).json()["hits"]
    r = client.delete(f"/api/v1/documents/{doc_id}")
    assert r.status_code == 204
    assert client.get(f"/api/v1/documents/{doc_id}").status_code == 404
    assert client.post("/api/v1/search", json={"query": "waggle dance"}).json()["hits"] == []
    again = client.delete(f"/api/v1/documents/{doc_id}")
    assert again.status_code == 404 and again.headers["content-type"] == PROBLEM


def test_empty_file_is_a_problem_that_names_the_recorded_document(client: TestClient) -> None:
    r = client.post("/api/v1/documents", files={"file": ("empty.txt", b"", "text/plain")})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["code"] == "document_rejected" and "empty" in body["detail"]
    doc = client.get(f"/api/v1/documents/{body['document_id']}").json()
    assert doc["status"] == "failed"


def test_unknown_binary_type_is_415(client: TestClient) -> None:
    junk = bytes(range(256)) * 40
    r = client.post(
        "/api/v1/documents", files={"file": ("blob.bin", junk, "application/octet-stream")}
    )
    assert r.status_code == 415, r.text
    assert r.json()["code"] == "unsupported_media_type"


def test_corrupt_pdf_fails_later_with_its_error_and_can_be_retried(client: TestClient) -> None:
    r = client.post(
        "/api/v1/documents",
        files={"file": ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 200, "application/pdf")},
    )
    assert r.status_code == 202
    doc = wait_indexed(client, r.json()["id"])
    assert doc["status"] == "failed" and doc["error"]
    retried = client.post(f"/api/v1/documents/{doc['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    assert wait_indexed(client, doc["id"])["status"] == "failed"
    indexed_id = client.post("/api/v1/documents", json={"text": TIDES}).json()["id"]
    wait_indexed(client, indexed_id)
    not_failed = client.post(f"/api/v1/documents/{indexed_id}/retry")
    assert not_failed.status_code == 422 and "not failed" in not_failed.json()["detail"]


def test_wrong_content_type_and_bad_metadata(client: TestClient) -> None:
    r = client.post("/api/v1/documents", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.headers["content-type"] == PROBLEM
    r = client.post(
        "/api/v1/documents",
        files={"file": ("a.txt", b"hi there", "text/plain")},
        data={"metadata": "{nope"},
    )
    assert r.status_code == 422 and "metadata" in r.json()["detail"]
    r = client.post(
        "/api/v1/documents",
        files={"file": ("a.txt", b"hi there", "text/plain")},
        data={"metadata": "[1]"},
    )
    assert r.status_code == 422
    r = client.post("/api/v1/documents", data={"title": "no file"})
    assert r.status_code in (415, 422)
    r = client.post("/api/v1/documents", json={"text": ""})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = client.post("/api/v1/documents", json={"text": "x", "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = client.post(
        "/api/v1/documents", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


def test_upload_over_the_size_limit_is_413_and_nothing_is_stored(tmp_path) -> None:
    from tests.api.conftest import make_client

    with make_client(tmp_path / "d", max_document_bytes=64 * 1024) as c:
        big = b"word " * (300 * 1024)  # 1.5 MB: over the document limit plus framing
        r = c.post("/api/v1/documents", files={"file": ("big.txt", big, "text/plain")})
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
        # Under the request limit but over the document limit: recorded as failed, with why.
        mid = b"word " * (20 * 1024)  # 100 KB
        r = c.post("/api/v1/documents", files={"file": ("mid.txt", mid, "text/plain")})
        assert r.status_code == 413 and r.json()["code"] == "document_too_large"
        assert c.get("/api/v1/documents", params={"status": "failed"}).json()["total"] == 1
        ok = c.post("/api/v1/documents", json={"text": TIDES})
        assert ok.status_code == 202
