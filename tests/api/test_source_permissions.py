"""Synced sources map their own permission fields onto document allow-lists, over HTTP
(auth required, embedded worker) against the real servers the source tests use: moto's S3
in server mode, a folder, and a small web site on loopback (``tests.fakes.web_site``).

A reader not on an item's field does not find its document; after the field changes (the
content does not) and a run, the allow-list follows. A source's ``collection`` puts its
documents there. Worst cases: a field that is not a list of principals (the item fails,
its document keeps its allow-list), a POSIX group with no ragd group, bad settings.
"""

from __future__ import annotations

import grp
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from tests.api.conftest import make_client
from tests.fakes.web_site import html, web_site
from tests.objectstore import s3_server


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    root.mkdir()
    return root


@pytest.fixture
def client(tmp_path: Path, share: Path) -> Iterator[TestClient]:
    with make_client(
        tmp_path / "data",
        auth="required",
        worker_poll_seconds=0.02,
        sources_folder_roots=str(share),
        sources_allow_private_networks=True,
        sources_secret_key=Fernet.generate_key().decode(),
        sources_min_interval_seconds=1,
        sources_watch=False,  # runs are the ones asked for (watching: test_source_watch.py)
    ) as c:
        yield c


class People:
    def __init__(self, client: TestClient) -> None:
        svc = client.app.state.services  # type: ignore[attr-defined]
        self.client = client
        made = svc.account_admin.create_tenant("s" + uuid.uuid4().hex[:10])
        self.tenant = made.tenant.id
        self.admin = {"X-API-Key": made.key.plaintext}
        self.ids: dict[str, str] = {}
        self.h: dict[str, dict[str, str]] = {}
        for name in ("alice", "bob"):
            user = svc.accounts.create_user(TenantId(self.tenant), name, None, Role.READER)
            self.ids[name] = user.id
            self.h[name] = {
                "X-API-Key": svc.account_admin.issue_key(self.tenant, user.id).plaintext
            }

    def finds(self, who: str, marker: str) -> bool:
        headers = self.admin if who == "admin" else self.h[who]
        r = self.client.post(
            "/api/v1/search", json={"query": marker, "top_k": 5, "mode": "sparse"}, headers=headers
        )
        assert r.status_code == 200, r.text
        return marker in r.text

    def source(self, **body: Any) -> str:
        r = self.client.post("/api/v1/sources", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def run(self, source_id: str, runs: int) -> dict[str, Any]:
        if runs > 1:
            r = self.client.post(f"/api/v1/sources/{source_id}/run", headers=self.admin)
            assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while True:
            status = self.client.get(
                f"/api/v1/sources/{source_id}/status", headers=self.admin
            ).json()
            done = status["runs"] >= runs and not status["running"] and status["last_finished_at"]
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.settle()
        return dict(status)

    def settle(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            docs = self.client.get("/api/v1/documents", headers=self.admin).json()["documents"]
            if all(d["status"] in ("indexed", "failed") for d in docs):
                return
            time.sleep(0.05)


def test_s3_object_metadata_becomes_the_allow_list_and_follows_its_changes(
    client: TestClient,
) -> None:
    p = People(client)
    r = client.post("/api/v1/collections", json={"id": "hr", "name": "HR"}, headers=p.admin)
    assert r.status_code == 201, r.text
    r = client.put(
        "/api/v1/collections/hr/grants", json={"principal": "*", "level": "read"}, headers=p.admin
    )
    assert r.status_code == 204, r.text
    with s3_server() as s3:
        c = s3.client()
        c.put_object(
            Bucket=s3.bucket,
            Key="pay.txt",
            Body=b"salary bands s3markerx for the staff",
            Metadata={"ragd-readers": f"u:{p.ids['alice']}"},
        )
        c.put_object(Bucket=s3.bucket, Key="open.txt", Body=b"office hours s3openx for all")
        sid = p.source(
            name="bucket",
            kind="s3",
            config={
                "bucket": s3.bucket,
                "endpoint_url": s3.endpoint,
                "addressing_style": "path",
                "collection": "hr",
                "permissions": {"metadata": "ragd-readers"},
            },
            secret={"access_key_id": "testing", "secret_access_key": "testing"},
            interval_seconds=3600,
        )
        status = p.run(sid, 1)
        assert status["last_outcome"] == "success" and status["added"] == 2, status
        docs = client.get("/api/v1/documents", headers=p.admin).json()["documents"]
        assert {d["collection"] for d in docs} == {"hr"}
        pay = next(d for d in docs if d["source"].endswith("pay.txt"))
        assert pay["readers"] == [f"u:{p.ids['alice']}"]
        assert p.finds("alice", "s3markerx") and not p.finds("bob", "s3markerx")
        assert p.finds("bob", "s3openx")  # no field: everyone who reads the collection
        # the metadata changes, the content (and its ETag) does not
        c.copy_object(
            Bucket=s3.bucket,
            Key="pay.txt",
            CopySource={"Bucket": s3.bucket, "Key": "pay.txt"},
            Metadata={"ragd-readers": f"u:{p.ids['bob']}, g:payroll"},
            MetadataDirective="REPLACE",
        )
        status = p.run(sid, 2)
        assert status["last_outcome"] == "success" and status["added"] == 0, status
        assert p.finds("bob", "s3markerx") and not p.finds("alice", "s3markerx")
        # a field that is not a list of principals fails the item; the old list stands
        c.copy_object(
            Bucket=s3.bucket,
            Key="pay.txt",
            CopySource={"Bucket": s3.bucket, "Key": "pay.txt"},
            Metadata={"ragd-readers": "everyone!"},
            MetadataDirective="REPLACE",
        )
        status = p.run(sid, 3)
        assert status["last_outcome"] == "partial" and status["failed"] == 1, status
        assert p.finds("bob", "s3markerx") and not p.finds("alice", "s3markerx")
    audit = client.get("/admin/audit", params={"action": "document.place"}, headers=p.admin).json()
    assert any(e["user_id"] == "source" for e in audit["entries"])


def test_a_folder_sidecar_sets_the_allow_list_and_a_change_counts_next_run(
    client: TestClient, share: Path
) -> None:
    p = People(client)
    (share / "plan.md").write_text("# Plan\nthe roadmap foldermarkerx for next year")
    (share / "plan.md.readers").write_text(f"u:{p.ids['alice']}\n")
    sid = p.source(
        name="share",
        kind="folder",
        config={"path": str(share), "permissions": {"sidecar": ".readers"}},
        interval_seconds=3600,
    )
    status = p.run(sid, 1)
    assert status["last_outcome"] == "success" and status["added"] == 1, status  # no sidecar doc
    assert p.finds("alice", "foldermarkerx") and not p.finds("bob", "foldermarkerx")
    (share / "plan.md.readers").write_text(f"u:{p.ids['bob']}")
    status = p.run(sid, 2)
    assert status["last_outcome"] == "success", status
    assert p.finds("bob", "foldermarkerx") and not p.finds("alice", "foldermarkerx")
    (share / "plan.md.readers").unlink()  # no field: no allow-list
    p.run(sid, 3)
    assert p.finds("bob", "foldermarkerx") and p.finds("alice", "foldermarkerx")


def test_a_files_posix_group_maps_to_a_ragd_group_only_if_it_exists(
    client: TestClient, share: Path
) -> None:
    p = People(client)
    name = grp.getgrgid(os.stat(share).st_gid).gr_name.lower()
    (share / "ops.txt").write_text("the runbook posixmarkerx for on-call")
    sid = p.source(
        name="share",
        kind="folder",
        config={"path": str(share), "permissions": {"posix_group": True}},
        interval_seconds=3600,
    )
    p.run(sid, 1)  # no ragd group of that name: no allow-list
    assert p.finds("alice", "posixmarkerx") and p.finds("bob", "posixmarkerx")
    r = client.post("/api/v1/groups", json={"id": name, "name": name}, headers=p.admin)
    assert r.status_code == 201, r.text
    r = client.put(f"/api/v1/groups/{name}/members/{p.ids['alice']}", headers=p.admin)
    assert r.status_code == 204
    p.run(sid, 2)
    assert p.finds("alice", "posixmarkerx") and not p.finds("bob", "posixmarkerx")


def test_a_web_pages_meta_tag_sets_the_allow_list_and_follows_its_changes(
    client: TestClient,
) -> None:
    p = People(client)

    def page(readers: str | None, marker: str) -> str:
        meta = f'<meta name="ragd-readers" content="{readers}">' if readers is not None else ""
        return html("Pay", f"salary bands {marker}", ["/open"]).replace("<head>", "<head>" + meta)

    with web_site() as site:
        site.set_page("/", page(f"u:{p.ids['alice']}", "webmarkerx"))
        site.set_page("/open", html("Open", "the canteen menu openmarkerx"))
        sid = p.source(
            name="site",
            kind="web",
            config={"start_urls": [f"{site.base}/"], "permissions": {"meta": "ragd-readers"}},
            interval_seconds=3600,
        )
        status = p.run(sid, 1)
        assert status["last_outcome"] == "success" and status["added"] == 2, status
        assert p.finds("alice", "webmarkerx") and not p.finds("bob", "webmarkerx")
        assert p.finds("bob", "openmarkerx")  # no meta tag: no allow-list
        site.set_page("/", page(f"g:nobody, u:{p.ids['bob']}", "webmarkerx"))
        p.run(sid, 2)
        assert p.finds("bob", "webmarkerx") and not p.finds("alice", "webmarkerx")
        assert site.not_modified["/open"] >= 1  # unchanged pages keep theirs (304)
        assert p.finds("bob", "openmarkerx") and p.finds("alice", "openmarkerx")
        # a tag that is not a list of principals fails the page; it keeps its allow-list
        site.set_page("/", page("alice; DROP TABLE", "webmarkerx"))
        status = p.run(sid, 3)
        assert status["failed"] == 1, status
        assert p.finds("bob", "webmarkerx") and not p.finds("alice", "webmarkerx")
        site.set_page("/", page(None, "webmarkerx"))  # the tag removed: everyone
        p.run(sid, 4)
        assert p.finds("alice", "webmarkerx") and p.finds("bob", "webmarkerx")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"permissions": {"meta": True}}, "meta name"),
        ({"permissions": {"sidecar": ".readers"}}, "exactly one of: meta"),
        ({"permissions": {"meta": "bad name!"}}, "field name"),
    ],
)
def test_bad_web_permission_settings_are_problems(
    client: TestClient, config: dict[str, Any], fragment: str
) -> None:
    p = People(client)
    r = client.post(
        "/api/v1/sources",
        json={
            "name": "x",
            "kind": "web",
            "config": {"start_urls": ["http://127.0.0.1:9/"], **config},
        },
        headers=p.admin,
    )
    assert r.status_code in (400, 422), r.text
    assert fragment in r.text


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"permissions": {"metadata": "ragd-readers"}}, "folder"),  # an s3 key on a folder
        ({"permissions": {"sidecar": "readers"}}, "suffix"),
        ({"permissions": {"sidecar": ".r", "posix_group": True}}, "exactly one"),
        ({"permissions": "ragd-readers"}, "object"),
        ({"collection": "Bad Name"}, "collection"),
    ],
)
def test_bad_permission_settings_are_problems(
    client: TestClient, share: Path, config: dict[str, Any], fragment: str
) -> None:
    p = People(client)
    r = client.post(
        "/api/v1/sources",
        json={"name": "x", "kind": "folder", "config": {"path": str(share), **config}},
        headers=p.admin,
    )
    assert r.status_code in (400, 422), r.text
    assert fragment in r.text or "exactly one" in r.text


def test_a_missing_target_collection_fails_the_run_clearly(client: TestClient, share: Path) -> None:
    p = People(client)
    (share / "a.txt").write_text("anything at all")
    sid = p.source(
        name="share",
        kind="folder",
        config={"path": str(share), "collection": "nowhere"},
        interval_seconds=3600,
    )
    status = p.run(sid, 1)
    assert status["last_outcome"] == "failed" and "nowhere" in (status["last_error"] or "")
