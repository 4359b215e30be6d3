"""``/api/v1/sources`` through the app (embedded worker included): create, list, get,
update, run now, status, delete; secrets never come back; bad settings are problems."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from tests.api.conftest import make_client
from tests.fakes.web_site import standard_site, web_site

SECRET = "s3cr3t-value-never-returned"


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    root.mkdir()
    (root / "owls.md").write_text("# Owls\nOwls hunt at night and fly silently.")
    (root / "moles.txt").write_text("Moles dig tunnels under the garden lawn.")
    return root


@pytest.fixture
def client(tmp_path: Path, share: Path) -> Iterator[TestClient]:
    with make_client(
        tmp_path / "data",
        sources_folder_roots=str(share),
        sources_allow_private_networks=True,
        sources_secret_key=Fernet.generate_key().decode(),
        sources_min_interval_seconds=1,
        sources_http_timeout_seconds=1.0,
        # The runs here are the schedule's and the ones asked for: a watched folder would
        # add a run of its own after each file change, racing the asked-for run's counters
        # (a CI run once read the later run's "deleted": 0). tests/integration/test_source_watch.py
        # covers watching.
        sources_watch=False,
    ) as c:
        yield c


def wait_run(client: TestClient, source_id: str, runs: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/v1/sources/{source_id}/status").json()
        if (status["runs"] >= runs and not status["running"] and status["last_finished_at"]) or (
            time.monotonic() > deadline
        ):
            return status
        time.sleep(0.1)


def wait_indexed(client: TestClient, n: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        docs = client.get("/api/v1/documents").json()["documents"]
        if (len(docs) == n and all(d["status"] == "indexed" for d in docs)) or (
            time.monotonic() > deadline
        ):
            return docs
        time.sleep(0.1)


def test_folder_source_lifecycle(client: TestClient, share: Path) -> None:
    r = client.post(
        "/api/v1/sources",
        json={"name": "share", "kind": "folder", "config": {"path": str(share)}},
    )
    assert r.status_code == 201, r.text
    source = r.json()
    assert source["config"]["path"] == str(share) and source["has_secret"] is False
    # The embedded worker runs it (due at once).
    status = wait_run(client, source["id"], 1)
    assert status["last_outcome"] == "success", status
    assert (status["seen"], status["added"], status["items"]) == (2, 2, 2)
    docs = wait_indexed(client, 2)
    assert {d["metadata"]["source_name"] for d in docs} == {"share"}
    hits = client.post(
        "/api/v1/search", json={"query": "tunnels garden", "top_k": 3, "mode": "sparse"}
    ).json()
    assert hits["hits"][0]["source"].endswith("moles.txt")

    (share / "moles.txt").unlink()
    r = client.post(f"/api/v1/sources/{source['id']}/run")
    assert r.status_code == 202
    status = wait_run(client, source["id"], 2)
    assert status["deleted"] == 1 and status["last_outcome"] == "success"
    assert [d["source"] for d in wait_indexed(client, 1)] == [str(share / "owls.md")]

    listed = client.get("/api/v1/sources").json()["sources"]
    assert [s["name"] for s in listed] == ["share"]
    r = client.patch(f"/api/v1/sources/{source['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert r.json()["status"]["next_run_at"] is None

    r = client.delete(f"/api/v1/sources/{source['id']}")
    assert r.status_code == 204
    assert client.get(f"/api/v1/sources/{source['id']}").status_code == 404
    assert client.get("/api/v1/documents").json()["total"] == 0


def test_secrets_are_accepted_and_never_returned(client: TestClient) -> None:
    r = client.post(
        "/api/v1/sources",
        json={
            "name": "bucket",
            "kind": "s3",
            "config": {"bucket": "b", "endpoint_url": "http://127.0.0.1:9"},
            "secret": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET},
            "interval_seconds": 3600,
            "enabled": False,
        },
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert r.json()["has_secret"] is True
    for path in ("/api/v1/sources", f"/api/v1/sources/{sid}", f"/api/v1/sources/{sid}/status"):
        body = client.get(path).text
        assert SECRET not in body and "AKIAEXAMPLE" not in body
    r = client.patch(f"/api/v1/sources/{sid}", json={"clear_secret": True})
    assert r.json()["has_secret"] is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "x", "kind": "folder", "config": {"path": "/etc"}}, "outside the allowed roots"),
        ({"name": "x", "kind": "ftp", "config": {}}, "kind"),
        ({"name": "x", "kind": "s3", "config": {}}, "bucket"),
        ({"name": "x", "kind": "web", "config": {"start_urls": ["file:///etc/passwd"]}}, "http"),
        (
            {
                "name": "x",
                "kind": "web",
                "config": {"start_urls": ["http://a.example/"], "max_pages": 0},
            },
            "max_pages",
        ),
        ({"name": "bad name!", "kind": "s3", "config": {"bucket": "b"}}, "name"),
        ({"name": "x", "kind": "s3", "config": {"bucket": "b"}, "oops": 1}, "oops"),
        (
            {"name": "x", "kind": "s3", "config": {"bucket": "b"}, "secret": {"password": "p"}},
            "no secret field",
        ),
    ],
)
def test_bad_settings_are_problems(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    r = client.post("/api/v1/sources", json=body)
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert fragment in r.text


def test_unknown_source_is_404(client: TestClient) -> None:
    for method, path in (
        ("get", "/api/v1/sources/nope"),
        ("get", "/api/v1/sources/nope/status"),
        ("post", "/api/v1/sources/nope/run"),
        ("delete", "/api/v1/sources/nope"),
    ):
        assert getattr(client, method)(path).status_code == 404


def test_roles_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/sources"]["post"]["x-required-role"] == "tenant_admin"
    assert paths["/api/v1/sources"]["get"]["x-required-role"] == "editor"
    assert paths["/api/v1/sources/{source_id}/run"]["post"]["x-required-role"] == "editor"
    assert paths["/api/v1/sources/{source_id}"]["delete"]["x-required-role"] == "tenant_admin"


def test_web_source_through_the_api(client: TestClient) -> None:
    with web_site() as site:
        standard_site(site)
        site.calendar = False
        r = client.post(
            "/api/v1/sources",
            json={"name": "site", "kind": "web", "config": {"start_urls": [f"{site.base}/"]}},
        )
        assert r.status_code == 201, r.text
        status = wait_run(client, r.json()["id"], 1)
        assert status["last_outcome"] == "success", status  # a 404 link is no failure
        assert (status["added"], status["failed"], status["items"]) == (4, 0, 4)
