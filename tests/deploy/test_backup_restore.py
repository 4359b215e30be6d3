"""Backups of a live embedded (SQLite) ragd: ``ragd backup`` / ``ragd restore`` through a
real S3-compatible server, and the host scripts scripts/backup.sh and restore.sh.

The acceptance of issues 8 and 18: back up a live ragd (to object storage, for
``ragd backup``), wipe it, restore it (by date), and `ragd eval` gives the same figures.
The data set is a small BEIR-layout corpus this test writes (topics whose vocabularies
overlap, so the figures are not all 1.0). The restored data dir is checked to hold the
documents before `ragd eval` runs again (eval would otherwise quietly re-ingest the corpus
and reach the same figures without any backup at all).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.tools import run
from tests.live import live_server
from tests.objectstore import s3_server

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

TOPICS = {
    "tides": "moon gravity ocean tide coast water spring neap sea orbit",
    "bees": "honeybee waggle dance flower nectar hive colony sun distance",
    "press": "gutenberg printing press type ink paper book metal europe",
    "volcano": "magma lava eruption crater ash mountain rock heat pressure",
    "comet": "comet tail ice orbit nucleus sun dust gas space",
    "glacier": "ice glacier valley snow mountain retreat water climate rock",
}
FILLER = "the of and a in to is was for on with as by at from that this which it".split()


def make_beir(root: Path, seed: int = 11) -> Path:
    rng = random.Random(seed)
    (root / "qrels").mkdir(parents=True)
    shared = [w for words in TOPICS.values() for w in words.split()]
    with (root / "corpus.jsonl").open("w") as corpus:
        for topic, words in TOPICS.items():
            own = words.split()
            for i in range(10):
                text = " ".join(
                    rng.choice(
                        own if rng.random() < 0.25 else shared if rng.random() < 0.3 else FILLER
                    )
                    for _ in range(80)
                )
                corpus.write(json.dumps({"_id": f"{topic}-{i}", "title": "", "text": text}) + "\n")
    with (
        (root / "queries.jsonl").open("w") as queries,
        (root / "qrels" / "test.tsv").open("w") as qrels,
    ):
        qrels.write("query-id\tcorpus-id\tscore\n")
        for j, (topic, words) in enumerate(TOPICS.items()):
            for k in range(2):
                qid = f"q{j}-{k}"
                text = " ".join(rng.sample(words.split(), 2) + rng.sample(shared, 2))
                queries.write(json.dumps({"_id": qid, "text": text}) + "\n")
                for i in rng.sample(range(10), 4):
                    qrels.write(f"{qid}\t{topic}-{i}\t1\n")
    return root


def ragd(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    proc = run(sys.executable, "-m", "ragd.cli", *args, env=env, timeout=timeout)
    assert proc.returncode == 0, f"ragd {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc.stdout


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What must survive a restore: counts and every quality figure (not the timings)."""
    return {
        "documents": report["documents"],
        "chunks": report["chunks"],
        "modes": {
            mode: {k: v for k, v in m.items() if not k.startswith("latency")}
            for mode, m in report["modes"].items()
        },
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": "",
        "RAGD_AUTH": "disabled",
        "EMBEDDING_MODEL": "hashing-256",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "warning",
    }


def test_ragd_backup_to_object_storage_restores_by_date_to_the_same_eval_figures(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dataset = make_beir(tmp_path / "beir")
    data = Path(env["RAGD_DATA_DIR"])
    before = json.loads(ragd(env, "eval", str(dataset), "--data-dir", str(data), "--json"))
    assert {m["ndcg@10"] for m in before["modes"].values()} != {1.0}, "too easy a data set"
    docs_before = json.loads(
        ragd(env, "docs", "list", "--tenant", "eval", "--json", "--limit", "500")
    )
    with s3_server() as s3:
        env = {**env, **s3.env(), "RAGD_BACKUP_WORK_DIR": str(tmp_path / "work")}
        with live_server(env, tmp_path / "serve.log") as base:
            # The server writes while it is backed up: a document arrives over HTTP first.
            r = httpx.post(f"{base}/api/v1/documents", json={"text": "Backups run at two."})
            assert r.status_code in (200, 202), r.text
            live_id = r.json()["id"]
            deadline = time.monotonic() + 60
            while httpx.get(f"{base}/api/v1/documents/{live_id}").json()["status"] != "indexed":
                assert time.monotonic() < deadline, "the live upload was not indexed"
                time.sleep(0.1)
            made = json.loads(ragd(env, "backup", "--json"))
            assert httpx.get(f"{base}/ready").status_code == 200  # still serving
        assert made["kind"] == "sqlite" and made["bytes"] > 0
        assert s3.keys() == [made["key"]]  # in the bucket, under the prefix
        listed = json.loads(ragd(env, "backup", "--list", "--json"))
        assert [b["name"] for b in listed] == [made["name"]]
        assert not any((tmp_path / "work").iterdir()), "the staging dir was cleaned up"

        shutil.rmtree(data)  # the disaster
        day = made["created_at"][:10]
        restored = json.loads(ragd(env, "restore", "--date", day, "--json"))
        assert restored["name"] == made["name"] and restored["reindexed"] is None
        refused = run(sys.executable, "-m", "ragd.cli", "restore", "--date", day, env=env)
        assert refused.returncode == 2 and "--force" in refused.stderr  # a Store is there now
        missing = run(sys.executable, "-m", "ragd.cli", "restore", "--date", "2001-01-01", env=env)
        assert missing.returncode == 4 and day in missing.stderr

    docs_after = json.loads(
        ragd(env, "docs", "list", "--tenant", "eval", "--json", "--limit", "500")
    )
    assert docs_after == docs_before
    assert json.loads(ragd(env, "docs", "show", live_id, "--json"))["status"] == "indexed"
    after = json.loads(ragd(env, "eval", str(dataset), "--data-dir", str(data), "--json"))
    assert figures(after) == figures(before)


def test_backup_script_of_a_live_ragd_restores_to_the_same_eval_figures(
    tmp_path: Path, env: dict[str, str]
) -> None:
    dataset = make_beir(tmp_path / "beir")
    data = Path(env["RAGD_DATA_DIR"])
    before = json.loads(ragd(env, "eval", str(dataset), "--data-dir", str(data), "--json"))
    ndcg = {m["ndcg@10"] for m in before["modes"].values()}
    assert ndcg != {1.0}, "the data set is too easy to show anything"
    docs_before = json.loads(
        ragd(env, "docs", "list", "--tenant", "eval", "--json", "--limit", "500")
    )
    search_before = json.loads(ragd(env, "search", "ash crater", "--tenant", "eval", "--json"))
    search_before.pop("timings", None)

    with live_server(env, tmp_path / "serve.log") as base:
        # The server writes while it is backed up: a document arrives over HTTP first.
        r = httpx.post(f"{base}/api/v1/documents", json={"text": "Backups run nightly at two."})
        assert r.status_code in (200, 202), r.text
        live_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/api/v1/documents/{live_id}").json()["status"] != "indexed":
            assert time.monotonic() < deadline, "the live upload was not indexed"
            time.sleep(0.1)
        backup = run("bash", "scripts/backup.sh", "--data-dir", str(data),
                     "--out", str(tmp_path / "backups"), env=env)  # fmt: skip
        assert backup.returncode == 0, backup.stderr[-3000:]
        assert httpx.get(f"{base}/ready").status_code == 200  # still serving
    backup_dir = Path(backup.stdout.strip())
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["kind"] == "sqlite" and "ragd.db" in manifest["files"]

    shutil.rmtree(data)  # the disaster
    assert not data.exists()

    restore = run("bash", "scripts/restore.sh", str(backup_dir), "--data-dir", str(data), env=env)
    assert restore.returncode == 0, restore.stderr[-3000:]
    # The restored data dir holds the documents before eval runs again.
    docs_after = json.loads(
        ragd(env, "docs", "list", "--tenant", "eval", "--json", "--limit", "500")
    )
    assert docs_after == docs_before
    assert json.loads(ragd(env, "docs", "show", live_id, "--json"))["status"] == "indexed"
    search_after = json.loads(ragd(env, "search", "ash crater", "--tenant", "eval", "--json"))
    search_after.pop("timings", None)
    assert search_after == search_before

    after = json.loads(ragd(env, "eval", str(dataset), "--data-dir", str(data), "--json"))
    assert figures(after) == figures(before)


def test_restore_refuses_damage_and_overwrites(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "EMBEDDING_MODEL": "hashing-64"}  # this one is about the files only
    data = Path(env["RAGD_DATA_DIR"])
    ragd(env, "ingest", "samples/")
    made = run("bash", "scripts/backup.sh", "--data-dir", str(data), "--out", str(tmp_path / "b"))
    assert made.returncode == 0, made.stderr[-3000:]
    backup_dir = Path(made.stdout.strip())

    # A data dir that already has a database is not overwritten without --force.
    refused = run("bash", "scripts/restore.sh", str(backup_dir), "--data-dir", str(data), env=env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    forced = run("bash", "scripts/restore.sh", str(backup_dir), "--data-dir", str(data),
                 "--force", env=env)  # fmt: skip
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert list(data.glob("ragd.db.before-restore-*")), "the old database was kept aside"

    # A damaged backup is refused before anything is touched.
    db = backup_dir / "ragd.db"
    raw = bytearray(db.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    db.write_bytes(bytes(raw))
    damaged = run("bash", "scripts/restore.sh", str(backup_dir), "--data-dir",
                  str(tmp_path / "elsewhere"), env=env)  # fmt: skip
    assert damaged.returncode == 1 and "damaged" in damaged.stderr
    assert not (tmp_path / "elsewhere").exists()
