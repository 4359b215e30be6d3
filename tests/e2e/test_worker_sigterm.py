"""SIGTERM mid-batch: the worker stops promptly and gives its jobs back untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragd.config import Settings
from ragd.domain.models import DEFAULT_TENANT, DocumentStatus, JobState
from ragd.services.container import build_services

pytestmark = pytest.mark.slow

RAGD = [sys.executable, "-m", "ragd.cli"]


def test_sigterm_releases_jobs_without_spending_attempts(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for i in range(24):
        (corpus / f"d{i}.txt").write_text(
            " ".join(f"Paragraph {i} line {j} about rivers." for j in range(40))
        )
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data_dir),
        "RAGD_WORKER_BATCH_SIZE": "24",
        "EMBEDDING_BATCH_SIZE": "4",
        "RAGD_EMBEDDING_THREADS": "1",
        "RAGD_JOB_LEASE_SECONDS": "600",
    }
    subprocess.run(
        [*RAGD, "ingest", str(corpus), "--no-wait"], env=env, check=True, capture_output=True
    )
    settings = Settings(data_dir=data_dir)  # type: ignore[call-arg]
    worker = subprocess.Popen(
        [*RAGD, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            svc = build_services(settings)
            embedding = svc.store.count_documents(DEFAULT_TENANT, status=DocumentStatus.EMBEDDING)
            svc.close()
            if embedding:
                break
            time.sleep(0.1)
        else:
            pytest.fail("worker never started embedding")
        time.sleep(1.0)  # well inside the batch: 24 long documents take far longer than this
        t0 = time.monotonic()
        os.kill(worker.pid, signal.SIGTERM)
        rc = worker.wait(timeout=60)
        stopped_in = time.monotonic() - t0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert rc == 0
    assert stopped_in < 30  # one model call, not the whole batch
    svc = build_services(settings)
    try:
        counts = svc.queue.counts()
        assert counts[JobState.RUNNING] == 0 and counts[JobState.FAILED] == 0
        assert counts[JobState.QUEUED] >= 1
        jobs = svc.queue.claim("inspector", limit=100, lease_seconds=60)
        assert jobs and all(
            j.attempts == 1 for j in jobs
        )  # claim made it 1: released ones were back at 0
    finally:
        svc.close()
