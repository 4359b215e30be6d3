"""Hostile requests against the HTTP layer: each is answered with a clear problem, never a
500, and leaves nothing half-stored behind.

- nested, non-finite or oversized upload metadata and over-long titles are refused the same
  way on the multipart and the JSON upload routes (422 problem+json, nothing stored);
- a row written before those checks existed (straight through the Store port) cannot break
  the tenant's list, get, search or query: the field is replaced when rendered;
- every response carries the security headers, and ``/docs`` and ``/redoc`` work offline;
- an unexpected error answers 500 problem+json and the keep-alive connection stays usable;
- a live ``ragd serve`` answers 1 MB of request headers with 431 instead of a reset;
- the document list is newest first and its ``total`` honours ``q``.

Inputs are generated here; nothing hostile is committed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from ragd.api.app import create_app
from ragd.domain.models import DEFAULT_TENANT, DocumentStatus, NewDocument
from ragd.observability import metrics
from tests.api.conftest import BEES, TIDES, make_client, wait_indexed
from tests.conftest import make_settings
from tests.live import Server, free_port

PROBLEM = "application/problem+json"
DOCS = "/api/v1/documents"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path / "data") as c:
        yield c


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _upload(client: TestClient, route: str, *, metadata: str, title: str | None = None) -> Any:
    """The same document through either upload route, metadata given as raw JSON text."""
    if route == "multipart":
        data = {"metadata": metadata}
        if title is not None:
            data["title"] = title
        return client.post(
            DOCS, files={"file": ("bees.txt", BEES.encode(), "text/plain")}, data=data
        )
    titled = "" if title is None else f', "title": {json.dumps(title)}'
    body = f'{{"text": {json.dumps(BEES)}, "metadata": {metadata}{titled}}}'
    return client.post(DOCS, content=body, headers={"content-type": "application/json"})


def _refused(client: TestClient, r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text[:500]
    assert r.headers["content-type"] == PROBLEM
    assert client.get(DOCS).json()["total"] == 0, "a refused upload stored a document"
    body: dict[str, Any] = r.json()
    return body


ROUTES = ["multipart", "json"]


# -- metadata and titles, the same on both routes ------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("depth", [500, 100_000])
def test_deeply_nested_metadata_is_refused(client: TestClient, route: str, depth: int) -> None:
    body = _refused(client, _upload(client, route, metadata=_nested(depth)))
    assert "metadata" in body["detail"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_metadata_numbers_are_refused(
    client: TestClient, route: str, literal: str
) -> None:
    body = _refused(client, _upload(client, route, metadata=f'{{"score": {literal}}}'))
    assert "metadata" in body["detail"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "metadata",
    [
        json.dumps({"k": "x" * 100_000}),  # too large
        json.dumps({f"k{i}": i for i in range(5000)}),  # too many keys
        json.dumps({"k" * 1000: 1}),  # key too long
        json.dumps({"": 1}),  # empty key
        json.dumps({"k": "nul\u0000inside"}),  # Postgres cannot store it
        json.dumps({"k": 1}) + " ",  # (control: accepted)
    ],
    ids=["size", "keys", "long-key", "empty-key", "nul", "control"],
)
def test_metadata_limits_are_the_same_on_both_routes(
    client: TestClient, route: str, metadata: str
) -> None:
    r = _upload(client, route, metadata=metadata)
    if metadata.endswith(" "):
        assert r.status_code == 202, r.text
        assert r.json()["metadata"] == {"k": 1}
        return
    assert "metadata" in _refused(client, r)["detail"]


@pytest.mark.parametrize("route", ROUTES)
def test_an_over_long_title_is_refused(client: TestClient, route: str) -> None:
    body = _refused(client, _upload(client, route, metadata="{}", title="T" * 100_000))
    assert "title" in body["detail"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_title_with_nul_is_refused(client: TestClient, route: str) -> None:
    body = _refused(client, _upload(client, route, metadata="{}", title="bad\u0000title"))
    assert "title" in body["detail"]


def test_an_over_long_file_name_is_refused(client: TestClient) -> None:
    name = "n" * 2000 + ".txt"  # (much longer, the multipart parser refuses it itself)
    r = client.post(DOCS, files={"file": (name, BEES.encode(), "text/plain")})
    assert "file name" in _refused(client, r)["detail"]


def test_the_limits_leave_ordinary_metadata_alone(client: TestClient) -> None:
    meta = {"lang": "en", "tags": ["a", "b"], "n": 3, "x": 1.5, "ok": True, "none": None}
    meta["nested"] = {"a": {"b": {"c": [1, {"d": 2}]}}}
    for route in ROUTES:
        r = _upload(client, route, metadata=json.dumps(meta), title="Bees " + route)
        assert r.status_code in (200, 202), r.text
        assert r.json()["metadata"] == meta


# -- rows stored before the checks existed --------------------------------------------

BAD_ROWS = {
    "nested-500": ({"deep": json.loads(_nested(500))}, "Bees"),
    "nan": ({"score": float("nan")}, "Bees"),
    "long-title": ({"lang": "en"}, "T" * 20_000),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_stored_row_that_cannot_be_rendered_breaks_nothing(
    client: TestClient, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad_metadata, bad_title = BAD_ROWS[case]
    good = client.post(DOCS, json={"text": TIDES, "title": "Tides"}).json()["id"]
    doc_id = client.post(DOCS, json={"text": BEES, "title": "Bees"}).json()["id"]
    for i in (good, doc_id):
        assert wait_indexed(client, i)["status"] == "indexed"
    store = client.app.state.services.store  # type: ignore[attr-defined]
    doc = store.get_document(DEFAULT_TENANT, doc_id)
    with store.transaction() as tx:  # as an older version would have stored it
        store.update_document_source(
            tx,
            DEFAULT_TENANT,
            doc_id,
            NewDocument(
                source=doc.source,
                title=bad_title,
                media_type=doc.media_type,
                content_hash=doc.content_hash,
                size_bytes=doc.size_bytes,
                metadata=bad_metadata,
            ),
        )
    store.set_status(
        None, DEFAULT_TENANT, doc_id, DocumentStatus.INDEXED, chunk_count=doc.chunk_count
    )

    with caplog.at_level(logging.WARNING):
        listed = client.get(DOCS)
        one = client.get(f"{DOCS}/{doc_id}")
        search = client.post("/api/v1/search", json={"query": "waggle dance bees"})
        query = client.post("/api/v1/query", json={"query": "What does the waggle dance tell?"})
        streamed = client.post(
            "/api/v1/query", json={"query": "What do honeybees dance for?", "stream": True}
        )
    for r in (listed, one, search, query, streamed):
        assert r.status_code == 200, r.text[:300]
    assert {d["id"] for d in listed.json()["documents"]} == {good, doc_id}
    rendered = [one.json(), *(d for d in listed.json()["documents"] if d["id"] == doc_id)]
    hits = [h for h in search.json()["hits"] if h["document_id"] == doc_id]
    passages = [p for p in query.json()["passages"] if p["document_id"] == doc_id]
    assert hits and passages, "the bad row must still be found"
    assert "event: error" not in streamed.text and "waggle" in streamed.text.lower()
    for shown in [*rendered, *hits, *passages]:
        if case == "long-title":
            assert shown["metadata"] == {"lang": "en"}
            assert 0 < len(shown["title"]) <= 500
        else:
            assert shown["metadata"] == {} and shown["title"] == "Bees"
    assert doc_id in caplog.text, "a replaced field is logged with its document"


# -- the document list ------------------------------------------------------------------


def test_the_document_list_is_newest_first_and_its_total_honours_q(client: TestClient) -> None:
    ids = []
    for i, name in enumerate(["alpha-one", "beta", "alpha-two", "gamma", "alpha-three"]):
        r = client.post(DOCS, json={"text": f"{TIDES} Note {i}.", "source": name})
        ids.append(r.json()["id"])
        time.sleep(0.01)  # distinct creation times
    listed = client.get(DOCS).json()
    assert [d["id"] for d in listed["documents"]] == ids[::-1]
    found = client.get(DOCS, params={"q": "alpha", "limit": 2}).json()
    assert found["total"] == 3
    assert [d["source"] for d in found["documents"]] == ["alpha-three", "alpha-two"]
    rest = client.get(DOCS, params={"q": "alpha", "limit": 2, "offset": 2}).json()
    assert rest["total"] == 3 and [d["source"] for d in rest["documents"]] == ["alpha-one"]


# -- security headers ---------------------------------------------------------------------


def _csp(r: httpx.Response) -> dict[str, str]:
    policy = r.headers.get("content-security-policy", "")
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/documents"),
        ("GET", "/api/v1/documents/nope"),
        ("POST", "/api/v1/search"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/no-such-page"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    r = client.request(method, path, json={} if method == "POST" else None)
    assert r.headers["x-content-type-options"] == "nosniff", path
    assert r.headers["referrer-policy"] == "no-referrer", path
    assert r.headers["x-frame-options"] == "DENY", path
    csp = _csp(r)
    assert csp.get("frame-ancestors") == "'none'", path
    assert "'unsafe-eval'" not in r.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_load_nothing_from_outside_and_run_under_their_csp(
    client: TestClient, path: str
) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    csp = _csp(r)
    # Every script and stylesheet comes from this server, and is served.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for url in assets:
        assert url.startswith("/"), f"{path} loads {url} from elsewhere"
        got = client.get(url)
        assert got.status_code == 200 and (len(got.content) > 1000 or url.endswith(".png")), url
    assert "http" not in csp.get("script-src", "") and "'unsafe-inline'" not in csp["script-src"]
    # An inline script runs only if the policy names its hash.
    for inline in re.findall(r"<script>(.*?)</script>", html, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"], path
    assert csp.get("connect-src") == "'self'"


# -- an unexpected error keeps the connection -----------------------------------------------


class _LiveApp:
    """The real app, with one route that fails unexpectedly, under uvicorn on loopback."""

    def __init__(self, tmp: Path) -> None:
        app = create_app(make_settings(tmp / "data"))

        @app.get("/boom-for-test")
        def boom() -> None:
            raise RuntimeError("unexpected failure for the test")

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _LiveApp:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _exchange(sock: socket.socket, conn: h11.Connection, path: str) -> tuple[h11.Response, bytes]:
    """One request and its whole response over ``sock``, parsed by h11 (no reconnects)."""
    request = h11.Request(method="GET", target=path, headers=[("Host", "127.0.0.1")])
    sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
    response: h11.Response | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            conn.receive_data(data)
            if not data:
                break
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    assert response is not None, f"no response to {path}"
    return response, body


def test_a_500_is_problem_json_and_the_connection_stays_usable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counted = metrics.REQUESTS.labels("/boom-for-test", "500")
    before = counted._value.get()
    with _LiveApp(tmp_path) as live, caplog.at_level(logging.ERROR, logger="ragd.api"):
        sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
        conn = h11.Connection(h11.CLIENT)
        try:
            response, body = _exchange(sock, conn, "/boom-for-test")
            assert response.status_code == 500
            headers = {k.decode(): v.decode() for k, v in response.headers}
            assert headers["content-type"] == PROBLEM
            assert json.loads(body)["code"] == "internal"
            assert "unexpected failure" not in body.decode(), "no internals reach the client"
            assert headers.get("connection") != "close"
            assert conn.our_state is h11.DONE and conn.their_state is h11.DONE
            conn.start_next_cycle()
            again, _ = _exchange(sock, conn, "/health")  # the same socket, the same connection
            assert again.status_code == 200
        finally:
            sock.close()
    assert "unexpected failure for the test" in caplog.text, "the traceback reaches the log"
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
    assert counted._value.get() == before + 1, "the 500 is counted in rag_requests_total"


# -- request headers too large: a live ragd serve ----------------------------------------


@pytest.mark.slow
def test_a_megabyte_of_request_headers_is_431_from_ragd_serve(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "EMBEDDING_MODEL": "hashing-64",
        "LOG_LEVEL": "warning",
    }
    server = Server(env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.base, timeout=30) as http:
            r = http.get("/health", headers={"X-Big": "a" * (1024 * 1024)})
            assert r.status_code == 431, r.text
            assert r.headers["content-type"] == PROBLEM
            assert r.json()["code"] == "request_header_fields_too_large"
            many = {f"X-H{i}": "b" * 1000 for i in range(1000)}
            assert http.get("/health", headers=many).status_code == 431
            # ordinary requests are unaffected, before and after
            assert http.get("/health", headers={"X-Fine": "c" * 4000}).status_code == 200
        assert server.proc.poll() is None
    finally:
        server.stop()
