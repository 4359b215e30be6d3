"""Kill -9 a worker process mid-batch, start another: every document ends indexed exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragd.config import Settings
from ragd.domain.models import DEFAULT_TENANT, DocumentStatus
from ragd.services.container import build_services
from tests.live import kill_when

pytestmark = pytest.mark.slow

RAGD = [sys.executable, "-m", "ragd.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(data_dir),
        "EMBEDDING_MODEL": "all-MiniLM-L6-v2",
        "RAGD_JOB_LEASE_SECONDS": "3",
        "RAGD_WORKER_BATCH_SIZE": "8",
        "EMBEDDING_BATCH_SIZE": "8",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "RAGD_EMBEDDING_THREADS": "1",
    }


def _statuses(settings: Settings) -> dict[DocumentStatus, int]:
    svc = build_services(settings)
    try:
        return {s: svc.store.count_documents(DEFAULT_TENANT, status=s) for s in DocumentStatus}
    finally:
        svc.close()


def test_sigkill_mid_batch_loses_and_doubles_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    n_docs = 40
    for i in range(n_docs):
        body = " ".join(
            f"Document {i} sentence {j} talks about topic {i * 7 % 13} and item {j}."
            for j in range(25)
        )
        (corpus / f"doc-{i:03d}.txt").write_text(body)
    data_dir = tmp_path / "data"
    env = _env(data_dir)
    subprocess.run(
        [*RAGD, "ingest", str(corpus), "--no-wait"], env=env, check=True, capture_output=True
    )
    settings = Settings(data_dir=data_dir, embedding_model="all-MiniLM-L6-v2")  # type: ignore[call-arg]
    assert _statuses(settings)[DocumentStatus.QUEUED] == n_docs

    def mid_batch() -> bool:  # inside a batch, after committing some documents
        st = _statuses(settings)
        return st[DocumentStatus.INDEXED] >= 1 and st[DocumentStatus.EMBEDDING] >= 1

    kill_when(["worker"], env, mid_batch, what="the worker getting mid-batch", poll=0.05)
    killed_at = _statuses(settings)
    assert 0 < killed_at[DocumentStatus.INDEXED] < n_docs
    assert killed_at[DocumentStatus.EMBEDDING] + killed_at[DocumentStatus.PARSING] >= 1

    # A fresh worker picks up the abandoned jobs once their 3 s leases run out.
    done = subprocess.run(
        [*RAGD, "worker", "--until-idle"], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()

    svc = build_services(settings)
    try:
        docs = svc.store.list_documents(DEFAULT_TENANT, limit=1000)
        assert len(docs) == n_docs
        assert all(d.status == DocumentStatus.INDEXED for d in docs), [
            (d.source, d.status, d.error) for d in docs
        ]
        total = 0
        for d in docs:
            chunks = svc.store.list_chunks(DEFAULT_TENANT, d.id)
            assert [c.ordinal for c in chunks] == list(range(d.chunk_count)) and chunks
            total += len(chunks)
        assert svc.store.count_chunks(DEFAULT_TENANT) == total
        assert svc.index.count(DEFAULT_TENANT) == total  # no duplicate or orphan index entry
        assert svc.queue.pending() == 0
        hits = svc.search.search(DEFAULT_TENANT, "Document 17 sentence 3", mode="sparse", k=50).hits
        assert len({h.chunk_id for h in hits}) == len(hits)
    finally:
        svc.close()
