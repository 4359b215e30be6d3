"""Kill -9 the outbox sync mid-stream, start it again: the Store and Qdrant agree.

Documents are ingested with the sync kept out of the worker, so their outbox rows wait in
the Store; ``ragd sync`` (a real process, Qdrant in local mode on disk) applies them one
row per batch and is killed with SIGKILL once it has applied some and not all. The rows
it applied to Qdrant without recording it, if any, are applied again by the next sync once
the dead one's lease runs out; ``ragd reconcile`` then finds no drift, and Qdrant holds
exactly the Store's chunks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragd.adapters.index.qdrant.outbox import Outbox
from ragd.adapters.sql.database import Database
from tests.live import kill_when

pytestmark = pytest.mark.slow
pytest.importorskip("qdrant_client")

RAGD = [sys.executable, "-m", "ragd.cli"]
N_DOCS = 150


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(data_dir),
        "VECTOR_STORE_TYPE": "qdrant",
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_OUTBOX_SYNC_IN_WORKER": "false",
        "RAGD_OUTBOX_BATCH_SIZE": "1",
        "RAGD_OUTBOX_LEASE_SECONDS": "2",
        "RAGD_WORKER_POLL_SECONDS": "0.05",
    }


def test_sigkill_mid_sync_then_restart_leaves_store_and_index_agreeing(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(N_DOCS):
        (corpus / f"doc-{i:03d}.txt").write_text(
            f"Document {i} about topic {i % 11}. " + " ".join(f"word{j}" for j in range(i % 40))
        )
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    done = subprocess.run([*RAGD, "ingest", str(corpus)], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()

    db = Database(f"sqlite:///{data_dir / 'ragd.db'}")  # the Store only: Qdrant stays closed
    outbox = Outbox(db)
    try:
        assert outbox.backlog() == N_DOCS
        kill_when(
            ["sync"],
            env,
            lambda: 0 < outbox.backlog() < N_DOCS - 5,  # well under way, not finished
            what="the sync getting under way",
            poll=0.01,
        )
        left = outbox.backlog()
        assert 0 < left < N_DOCS, "killed before it started or after it finished"

        # Restarted, it waits out the dead sync's lease (2 s), then applies the rest.
        restarted = subprocess.run(
            [*RAGD, "sync", "--until-idle"], env=env, capture_output=True, timeout=300
        )
        assert restarted.returncode == 0, restarted.stderr.decode()
        assert outbox.backlog() == 0
    finally:
        db.dispose()

    check = subprocess.run(
        [*RAGD, "reconcile", "--check", "--json"], env=env, capture_output=True, timeout=300
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    report = json.loads(check.stdout)
    assert (report["missing"], report["orphans"]) == (0, 0)
    assert report["index_chunks"] == report["store_chunks"] >= N_DOCS

    found = subprocess.run(
        [*RAGD, "search", "Document 17 topic 6", "--mode", "sparse", "--json"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr.decode()
    assert "doc-017" in found.stdout.decode()
