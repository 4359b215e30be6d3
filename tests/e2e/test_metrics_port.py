"""``METRICS_PORT`` and ``ragd_http_requests_in_flight`` on a live ``ragd serve`` (loopback),
with one uvicorn worker and with several (prometheus_client's multiprocess mode: every
scrape, whichever worker answers it and on either port, counts the requests of all)."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from tests.live import Server, free_port

pytestmark = pytest.mark.slow


def sample(text: str, name: str, labels: str = "") -> float | None:
    """The value of ``name{labels}`` in an exposition (``labels`` as written there)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?")
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


@contextmanager
def serve(tmp_path: Path, **extra: str) -> Iterator[tuple[Server, int]]:
    metrics_port = free_port()
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "warning",
        "METRICS_PORT": str(metrics_port),
        **extra,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = Server(env, tmp_path / "serve.log")
    try:
        yield server, metrics_port
    finally:
        server.stop()


@contextmanager
def request_in_flight(port: int) -> Iterator[None]:
    """An upload whose body never finishes arriving: the request stays in flight."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /api/v1/documents HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b"
        )
        time.sleep(0.5)  # the app has the request (headers complete) and waits for the body
        yield


def scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_on_their_own_port_and_the_app_port(tmp_path: Path) -> None:
    with serve(tmp_path) as (server, metrics_port):
        for _ in range(3):
            assert httpx.get(server.base + "/api/v1/documents", timeout=10).status_code == 200
        own, app = scrape(metrics_port), scrape(server.port)
        for text in (own, app):
            assert (
                sample(text, "rag_requests_total", 'endpoint="/api/v1/documents",status="200"') == 3
            )
            assert sample(text, "ragd_http_requests_in_flight") == 0  # scrapes are not counted
            assert sample(text, "ragd_ingest_queue_lag_seconds") is not None  # refreshed
        with request_in_flight(server.port):
            assert sample(scrape(metrics_port), "ragd_http_requests_in_flight") == 1
        other = httpx.get(f"http://127.0.0.1:{metrics_port}/api/v1/documents", timeout=5)
        assert other.status_code == 404  # only /metrics on the metrics port


def workers_of(server: Server) -> list[psutil.Process]:
    """uvicorn's worker processes (spawned children; not multiprocessing's helpers)."""
    found = []
    for p in psutil.Process(server.proc.pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                p.cmdline()
            ):
                found.append(p)
        except psutil.Error:  # gone meanwhile
            continue
    return found


def test_several_workers_are_one_server_in_every_scrape(tmp_path: Path) -> None:
    """Two workers; then both killed (SIGKILL) and replaced by uvicorn: the counts of the
    dead workers stay (a worker restart is no counter reset), their in-flight request
    leaves the gauge. Without the multiprocess mode each scrape would show one worker's
    counts, and none after the kill."""
    directory = tmp_path / "prometheus"
    with serve(tmp_path, UVICORN_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(directory)) as (
        server,
        metrics_port,
    ):
        n, documents = 40, 'endpoint="/api/v1/documents",status="200"'
        with httpx.Client(base_url=server.base, timeout=10) as client:
            for _ in range(n):
                client.get("/api/v1/documents", headers={"Connection": "close"})
        # Whichever worker answers, on either port, every scrape counts all n requests.
        counts = {
            sample(scrape(port), "rag_requests_total", documents)
            for port in [server.port, metrics_port] * 4
        }
        assert counts == {n}
        workers = workers_of(server)
        assert len(workers) == 2
        with request_in_flight(server.port):
            values = {
                sample(scrape(metrics_port), "ragd_http_requests_in_flight") for _ in range(6)
            }
            assert values == {1}
            for worker in workers:
                worker.kill()
            psutil.wait_procs(workers, timeout=10)
        deadline = time.monotonic() + 60
        while {p.pid for p in workers_of(server)} & {p.pid for p in workers} or (
            len(workers_of(server)) < 2
        ):
            assert time.monotonic() < deadline, "uvicorn did not replace its workers"
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:
            try:
                text = scrape(metrics_port)
                break
            except (httpx.TransportError, AssertionError):
                assert time.monotonic() < deadline, server.stderr()[-2000:]
                time.sleep(0.2)
        assert sample(text, "rag_requests_total", documents) == n
        assert sample(text, "ragd_http_requests_in_flight") == 0
    assert server.proc.returncode is not None


def test_a_metrics_port_that_is_taken_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "RAGD_DATA_DIR": str(tmp_path / "data"),
            "METRICS_PORT": str(port),
            "LOG_LEVEL": "warning",
        }
        with pytest.raises(pytest.fail.Exception, match=f"METRICS_PORT={port}: cannot listen"):
            Server(env, tmp_path / "serve.log", timeout=60)
