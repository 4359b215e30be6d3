"""Postgres restarts under load, for real: a private server (tests/private_postgres.py) is
restarted (``pg_ctl -m fast``, what a rolling update or failover does to clients) and then
crashed (``-m immediate``) while one thread streams searches and queries through the API and
another keeps uploading documents, with a two-thread worker pool indexing them.

What must hold, with no process restarted: every response is a 2xx or a clear 503
problem (never a 500, never a hang); afterwards searches answer again; every upload that
was accepted is indexed exactly once (nothing lost, nothing doubled), and none failed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from ragd.adapters.sql.database import normalise_url
from ragd.api.app import create_app
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker_pool
from tests.conftest import make_settings
from tests.private_postgres import PrivatePostgres

WORDS = "apple river stone cloud maple harbor violin copper lantern meadow falcon ember".split()


def doc_text(i: int) -> str:
    a, b, c = WORDS[i % 12], WORDS[(i * 5 + 1) % 12], WORDS[(i * 7 + 3) % 12]
    return f"Document {i} is about the {a} and the {b}. It mentions {c} number {i} twice: {i}."


class Load:
    """Background traffic: searches/queries in one thread, uploads in another."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.stop = threading.Event()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.bad: list[str] = []
        self.accepted: list[str] = []
        self.next_doc = 100

    def _record(self, what: str, r: httpx.Response) -> None:
        self.statuses[(what, r.status_code)] += 1
        ok = r.status_code < 300 or (
            r.status_code == 503 and r.headers["content-type"].startswith("application/problem")
        )
        if not ok:
            self.bad.append(f"{what} {r.status_code}: {r.text[:300]}")

    def queries(self) -> None:
        i = 0
        while not self.stop.is_set():
            path = "/api/v1/search" if i % 2 else "/api/v1/query"
            r = self.client.post(path, json={"query": f"{WORDS[i % 12]} and stone", "top_k": 3})
            self._record(path, r)
            i += 1
            time.sleep(0.01)

    def uploads(self) -> None:
        while not self.stop.is_set():
            i = self.next_doc
            self.next_doc += 1
            r = self.client.post("/api/v1/documents", json={"text": doc_text(i), "title": f"d{i}"})
            self._record("upload", r)
            if r.status_code in (200, 201, 202):
                self.accepted.append(r.json()["id"])
            time.sleep(0.03)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=f) for f in (self.queries, self.uploads)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_api_and_workers_ride_out_postgres_restarts(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path / "data",
        database_url=private_postgres.url,
        vector_store_type="pgvector",
        embedded_worker=False,
        auth="disabled",
        job_lease_seconds=3.0,
        cache_ttl_seconds=0,
    )
    migrate_database(settings)  # as `ragd worker` does on start
    worker_services = build_services(settings)  # a separate "worker process"
    pool = build_worker_pool(worker_services, 2)
    worker_thread = threading.Thread(target=pool.run)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        worker_thread.start()
        try:
            with Load(client) as load:
                time.sleep(1.5)
                private_postgres.restart("fast")
                time.sleep(2.0)
                private_postgres.restart("immediate")  # a crash: no checkpoint, clients cut off
                time.sleep(2.0)
            assert not load.bad, load.bad[:5]
            assert load.accepted, load.statuses

            # Recovered without restarting anything: the same app answers again.
            deadline = time.monotonic() + 30
            while True:
                r = client.post("/api/v1/search", json={"query": "apple river", "top_k": 3})
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert r.status_code == 200, r.text

            # Every accepted upload ends indexed (leases of batches cut off by the restart
            # expire and are retried), none failed.
            deadline = time.monotonic() + 90
            pending = set(load.accepted)
            while pending and time.monotonic() < deadline:
                for doc_id in list(pending):
                    r = client.get(f"/api/v1/documents/{doc_id}")
                    if r.status_code == 200 and r.json()["status"] in ("indexed", "failed"):
                        assert r.json()["status"] == "indexed", r.json()
                        pending.discard(doc_id)
                time.sleep(0.2)
            stuck = {d: client.get(f"/api/v1/documents/{d}").text[:300] for d in pending}
            assert not pending, f"{len(pending)} accepted documents never indexed: {stuck}"
        finally:
            pool.stop()
            worker_thread.join(30)
            worker_services.close()

    # Exactly once: each document's chunks are stored and indexed once, and its job is done.
    engine = create_engine(normalise_url(private_postgres.url))
    with engine.connect() as conn:
        per_doc = dict(
            conn.execute(
                text("SELECT document_id, count(*) FROM chunks GROUP BY document_id")
            ).all()
        )
        indexed = conn.execute(text("SELECT count(*), count(DISTINCT chunk_id) FROM index_chunks"))
        rows, distinct = indexed.one()
        states = dict(
            conn.execute(text("SELECT state, count(*) FROM ingest_jobs GROUP BY 1")).all()
        )
        docs = dict(conn.execute(text("SELECT id, chunk_count FROM documents")).all())
    engine.dispose()
    for doc_id in load.accepted:
        assert per_doc.get(doc_id) == docs[doc_id] >= 1, doc_id
    assert rows == distinct == sum(per_doc.values())
    assert set(states) == {"done"}, states
    outcomes = {k: v for k, v in load.statuses.items() if k[1] == 503}
    assert outcomes, "no request ever saw the outage: the restarts did not happen under load"
