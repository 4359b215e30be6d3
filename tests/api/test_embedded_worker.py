"""The embedded worker as a child process of the API (``RAGD_EMBEDDED_WORKER_MODE``).

It indexes what the API queues, its metrics reach the API's ``/metrics``, it is started
again when it dies, it stops when the API process's pipe to it closes, and it is gone
when the app stops.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from fastapi.testclient import TestClient

from ragd.api.app import create_app
from ragd.api.embedded_worker import ProcessWorker, ThreadWorker
from ragd.services.container import migrate_database
from tests.api.conftest import BEES, TIDES, wait_indexed
from tests.conftest import make_settings


def _until(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _upload(client: TestClient, text: str) -> str:
    r = client.post("/api/v1/documents", json={"text": text})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def test_the_worker_process_indexes_restarts_and_goes_with_the_app(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", embedded_worker_mode="process")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        worker = client.app.state.embedded_worker  # type: ignore[attr-defined]
        assert isinstance(worker, ProcessWorker)
        first = worker.pid
        assert first != os.getpid()
        assert wait_indexed(client, _upload(client, BEES))["status"] == "indexed"
        # Its counters are merged into this process's scrape.
        scrape = client.get("/metrics").text
        line = next(
            ln
            for ln in scrape.splitlines()
            if ln.startswith("ragd_embedding_tokens_total{") and 'kind="document"' in ln
        )
        assert float(line.split()[-1]) > 0, line
        assert scrape.count("# TYPE ragd_embedding_tokens_total counter") == 1

        os.kill(first, signal.SIGKILL)  # dies on its own: started again
        assert _until(lambda: worker.pid != first and worker.proc.poll() is None)
        assert wait_indexed(client, _upload(client, TIDES))["status"] == "indexed"
        second = worker.pid
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == "zombie"


def test_the_worker_process_stops_when_the_api_process_is_gone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", embedded_worker_mode="process")
    migrate_database(settings)
    worker = ProcessWorker(settings)
    try:
        child = worker.proc
        assert _until(lambda: psutil.Process(child.pid).status() != "zombie", 10)
        assert child.stdin is not None
        child.stdin.close()  # what the kernel does when the API process dies
        assert _until(lambda: child.poll() is not None, 60), "the child outlived its parent"
        assert child.returncode == 0  # a graceful stop: its jobs released
    finally:
        worker.stop(timeout=30)


def test_thread_mode_and_qdrant_local_mode_keep_the_worker_in_process(tmp_path: Path) -> None:
    assert not make_settings(tmp_path, embedded_worker_mode="thread").embedded_worker_in_process
    assert make_settings(tmp_path, embedded_worker_mode="auto").embedded_worker_in_process
    qdrant_local = make_settings(tmp_path, embedded_worker_mode="auto", vector_store_type="qdrant")
    assert not qdrant_local.embedded_worker_in_process
    settings = make_settings(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert isinstance(client.app.state.embedded_worker, ThreadWorker)  # type: ignore[attr-defined]
