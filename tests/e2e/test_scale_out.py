"""Scale-out on one Postgres: two ``ragd serve`` processes take 1,000 uploads between them
while two ``ragd worker`` processes (two threads each) index them, all real subprocesses
over real HTTP, on a Postgres of this test's own (tests/private_postgres.py).

Exactly once, checked three ways: every document ends ``indexed`` with its chunks stored
once and indexed once; every job ran once (one attempt, state ``done``); and the workers'
own counts of what they indexed add up to exactly 1,000 — a document indexed twice by two
workers racing for it would make the sum larger.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from ragd.adapters.sql.database import normalise_url
from tests.live import Process, Server
from tests.private_postgres import PrivatePostgres

pytestmark = pytest.mark.slow

DOCUMENTS = 1000
WORDS = "apple river stone cloud maple harbor violin copper lantern meadow falcon ember".split()


def tenant_graphs(url: str) -> list[tuple[str, bool]]:
    """The per-tenant HNSW indexes and whether each is valid (built)."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname, i.indisvalid FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid"
                    " WHERE c.relname LIKE 'ix_index_chunks_embedding_t_%'"
                )
            ).all()
    finally:
        engine.dispose()
    return [(name, bool(valid)) for name, valid in rows]


def test_two_apis_and_two_workers_index_each_document_exactly_once(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": private_postgres.url,
        "VECTOR_STORE_TYPE": "pgvector",
        "EMBEDDING_MODEL": "hashing-64",  # the plumbing is under test here, not the model
        "RAGD_AUTH": "disabled",
        "RAGD_EMBEDDED_WORKER": "false",
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        "RAGD_WORKER_BATCH_SIZE": "16",
        # The tenant outgrows exact search early: a worker builds its own HNSW graph.
        "RAGD_PG_EXACT_BELOW": "300",
        "RAGD_INDEX_MAINTAIN_SECONDS": "0.5",
        "RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
        "LOG_LEVEL": "warning",
    }
    env.pop("REDIS_URL", None)
    migrate = Process(["migrate"], env, tmp_path / "migrate.log")
    assert migrate.proc.wait(120) == 0, migrate.stderr()
    migrate.stop()

    apis = [Server(env, tmp_path / f"api{i}.log") for i in range(2)]
    workers = [
        Process(["worker", "--concurrency", "2"], env, tmp_path / f"worker{i}.log")
        for i in range(2)
    ]
    try:
        clients = [httpx.Client(base_url=a.base, timeout=30) for a in apis]

        def upload(i: int) -> str:
            body = {
                "text": f"Note {i}: the {WORDS[i % 12]} and the {WORDS[i * 7 % 12]} ({i}).",
                "title": f"note-{i}",
                "metadata": {"n": i},
            }
            r = clients[i % 2].post("/api/v1/documents", json=body)
            assert r.status_code == 202, r.text
            return str(r.json()["id"])

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(upload, range(DOCUMENTS)))
        assert len(set(ids)) == DOCUMENTS

        deadline = time.monotonic() + 240
        while True:
            counts = clients[0].get("/api/v1/documents", params={"status": "indexed", "limit": 1})
            indexed = counts.json()["total"]
            if indexed >= DOCUMENTS or time.monotonic() > deadline:
                break
            assert all(w.proc.poll() is None for w in workers), [w.stderr() for w in workers]
            time.sleep(0.5)
        assert indexed == DOCUMENTS
        # A worker has built (or is building) the tenant's own graph, CONCURRENTLY.
        graphs = [(None, None)]
        while time.monotonic() < deadline + 30:
            graphs = tenant_graphs(private_postgres.url)
            if graphs and all(valid for _, valid in graphs):
                break
            time.sleep(0.5)
        assert len(graphs) == 1 and graphs[0][1] is True, graphs
        # Both APIs answer from the same index.
        for c in clients:
            hits = c.post("/api/v1/search", json={"query": "Note 417", "mode": "sparse"}).json()
            assert hits["hits"][0]["document_id"] == ids[417], hits
    finally:
        for c in clients:
            c.close()
        codes = [w.stop() for w in workers]
        for a in apis:
            a.stop()
    assert codes == [0, 0], [w.stderr()[-2000:] for w in workers]
    per_worker = []
    for w in workers:
        m = re.search(r"indexed (\d+), failed (\d+), retried (\d+)", w.stderr())
        assert m, w.stderr()[-2000:]
        per_worker.append(int(m.group(1)))
        assert m.group(2) == "0", w.stderr()[-2000:]
    assert sum(per_worker) == DOCUMENTS, per_worker
    assert all(n > 0 for n in per_worker), per_worker  # both really took part

    engine = create_engine(normalise_url(private_postgres.url))
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(text("SELECT status, count(*) FROM documents GROUP BY 1")).all()
        )
        jobs = conn.execute(
            text("SELECT count(*), count(DISTINCT document_id), max(attempts) FROM ingest_jobs")
        ).one()
        states = dict(
            conn.execute(text("SELECT state, count(*) FROM ingest_jobs GROUP BY 1")).all()
        )
        chunks = conn.execute(text("SELECT count(*), count(DISTINCT id) FROM chunks")).one()
        index = conn.execute(
            text("SELECT count(*), count(DISTINCT chunk_id) FROM index_chunks")
        ).one()
        bad = conn.execute(
            text(
                "SELECT count(*) FROM documents d WHERE d.chunk_count <> "
                "(SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
            )
        ).scalar_one()
    engine.dispose()
    assert statuses == {"indexed": DOCUMENTS}
    assert tuple(jobs) == (DOCUMENTS, DOCUMENTS, 1)  # one job per document, one attempt each
    assert states == {"done": DOCUMENTS}
    assert chunks[0] == chunks[1] == index[0] == index[1] >= DOCUMENTS
    assert bad == 0
