"""SIGKILL a ``ragd sources run`` process mid-run (while listing, and while deleting), run
it again: the index equals the source, with no lost, doubled or stale document.

The sources are real: a folder, and a bucket on moto's S3 server in this test process,
reached by the ``ragd`` subprocess over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from ragd.config import Settings
from ragd.domain.models import DEFAULT_TENANT, DocumentStatus
from ragd.services.container import build_services
from tests.live import kill_when
from tests.objectstore import s3_server

pytestmark = pytest.mark.slow

RAGD = [sys.executable, "-m", "ragd.cli"]
N_ITEMS = 150


class Source:
    """The items as the test last wrote them, on a folder or a bucket."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def write(self, name: str, text: str) -> None:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise NotImplementedError

    def uri(self, name: str) -> str:
        raise NotImplementedError

    def add_args(self) -> list[str]:
        raise NotImplementedError

    def put(self, name: str, text: str) -> None:
        self.texts[name] = text
        self.write(name, text)

    def delete(self, name: str) -> None:
        del self.texts[name]
        self.remove(name)


class Folder(Source):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        root.mkdir(parents=True)

    def write(self, name: str, text: str) -> None:
        (self.root / f"{name}.txt").write_text(text)

    def remove(self, name: str) -> None:
        (self.root / f"{name}.txt").unlink()

    def uri(self, name: str) -> str:
        return str(self.root / f"{name}.txt")

    def add_args(self) -> list[str]:
        return ["folder", "--set", f"path={self.root}"]


class Bucket(Source):
    def __init__(self, server: object) -> None:
        super().__init__()
        self.server = server
        self.client = server.client()  # type: ignore[attr-defined]
        self.bucket = server.bucket  # type: ignore[attr-defined]

    def write(self, name: str, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"kb/{name}.txt", Body=text.encode())

    def remove(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"kb/{name}.txt")

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/kb/{name}.txt"

    def add_args(self) -> list[str]:
        return [
            "s3",
            "--set", f"bucket={self.bucket}",
            "--set", "prefix=kb/",
            "--set", f"endpoint_url={self.server.endpoint}",  # type: ignore[attr-defined]
            "--set", "addressing_style=path",
            "--secret-env", "access_key_id=TEST_S3_KEY",
            "--secret-env", "secret_access_key=TEST_S3_SECRET",
        ]  # fmt: skip


@contextmanager
def make_source(kind: str, tmp_path: Path) -> Iterator[Source]:
    if kind == "folder":
        yield Folder(tmp_path / "share")
    else:
        with s3_server() as server:
            yield Bucket(server)


def text(i: int, version: int = 1) -> str:
    return f"Item {i} version {version} mentions token{i}v{version} among ordinary words. " * 5


def _env(data_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(data_dir),
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_SOURCES_FOLDER_ROOTS": str(tmp_path),
        "RAGD_SOURCES_ALLOW_PRIVATE_NETWORKS": "true",
        "RAGD_SOURCES_SECRET_KEY": Fernet.generate_key().decode(),
        "RAGD_SOURCES_LEASE_SECONDS": "2",
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        "TEST_S3_KEY": "testing",
        "TEST_S3_SECRET": "testing",
    }


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1


def _ragd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*RAGD, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def check_index_equals_source(settings: Settings, src: Source, gone: tuple[str, ...] = ()) -> None:
    svc = build_services(settings)
    try:
        docs = svc.store.list_documents(DEFAULT_TENANT, limit=1000)
        by_source = {d.source: d for d in docs}
        assert len(by_source) == len(docs)  # one document per source name
        assert set(by_source) == {src.uri(n) for n in src.texts}, "lost or stale documents"
        for name, body in src.texts.items():
            doc = by_source[src.uri(name)]
            assert doc.status == DocumentStatus.INDEXED, (name, doc.status, doc.error)
            assert doc.content_hash == hashlib.sha256(body.encode()).hexdigest(), name
        hashes = [d.content_hash for d in docs]
        assert len(hashes) == len(set(hashes)), "a document doubled"
        # The index holds exactly the current versions: each token finds its one document.
        for name in ("i003", "i050", "i149"):
            if name in src.texts:
                token = src.texts[name].split()[5]
                hits = svc.search.search(DEFAULT_TENANT, token, mode="sparse", k=5).hits
                assert {h.source for h in hits} == {src.uri(name)}, (name, token)
        for token in gone:  # deleted or changed items: no trace in the index
            assert svc.search.search(DEFAULT_TENANT, token, mode="sparse", k=5).hits == [], token
        counts = svc.store.count_documents(DEFAULT_TENANT)
        assert counts == len(src.texts)
        assert svc.sources is not None
        (source,) = svc.sources.list(DEFAULT_TENANT)
        assert source.item_count == len(src.texts)
        assert source.last_outcome == "success"
    finally:
        svc.close()


@pytest.mark.parametrize("kind", ["folder", "s3"])
@pytest.mark.parametrize("phase", ["listing", "deleting"])
def test_sigkill_mid_sync_then_resume(tmp_path: Path, kind: str, phase: str) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir, tmp_path)
    db = data_dir / "ragd.db"
    settings = Settings(data_dir=data_dir, embedding_model="hashing-64")  # type: ignore[call-arg]
    with make_source(kind, tmp_path) as src:
        for i in range(N_ITEMS):
            src.put(f"i{i:03d}", text(i))
        _ragd(env, "sources", "add", "kb", *src.add_args(), "--interval", "3600")
        first = json.loads(_ragd(env, "sources", "run", "kb", "--json").stdout)
        assert first["outcome"] == "success" and first["counts"]["added"] == N_ITEMS
        check_index_equals_source(settings, src)

        # Between runs: 60 deleted, 30 changed, 20 added, 10 renamed.
        for i in range(0, 60):
            src.delete(f"i{i:03d}")
        for i in range(60, 90):
            src.put(f"i{i:03d}", text(i, version=2))
        for i in range(N_ITEMS, N_ITEMS + 20):
            src.put(f"i{i:03d}", text(i))
        for i in range(140, 150):
            body = src.texts[f"i{i:03d}"]
            src.delete(f"i{i:03d}")
            src.put(f"r{i:03d}", body)

        if phase == "listing":  # some items of run 2 done, most not
            ready = "SELECT count(*) BETWEEN 3 AND 100 FROM source_items WHERE seen_run = 2"
        else:  # every present item stamped, some of the 70 gone ones deleted, not all
            ready = "SELECT count(*) BETWEEN 1 AND 66 FROM source_items WHERE seen_run < 2"
        kill_when(
            ["sources", "run", "kb", "--no-wait"],
            env,
            lambda: _count(db, "SELECT run_number FROM sources") == 2 and _count(db, ready) == 1,
            what=f"the sync {phase}",
            poll=0.005,
        )
        # The kill left the run half done: resume it (after the 2 s lease lapses).
        resumed = json.loads(_ragd(env, "sources", "run", "kb", "--json").stdout)
        assert resumed["outcome"] == "success", resumed
        _ragd(env, "worker", "--until-idle")
        check_index_equals_source(settings, src, gone=("token0v1", "token10v1", "token70v1"))
