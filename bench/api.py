"""HTTP overhead and answer latency of a live ``ragd serve`` holding ``--chunks`` chunks.

Builds a data dir with real Store rows (documents, chunks) and index entries (random unit
384-d vectors: dense latency does not depend on what the vectors are; texts recombined
from SciFact sentences so BM25 sees a realistic vocabulary). Then, in the same run:

* in-process: ``SearchService.search`` and ``AnswerService.answer`` (extractive) from
  ``--clients`` threads, the same services the server uses;
* over HTTP: the same calls to a live ``ragd serve`` subprocess (one uvicorn worker,
  embedded worker off, cache off) from ``--clients`` concurrent clients.

Queries are real SciFact queries, embedded with the shipped MiniLM model. Prints p50/p95
per path and the HTTP/in-process ratios (targets: HTTP p50 <= 1.3x in-process; /query
p95 <= 0.5 s).

    .venv/bin/python bench/api.py --chunks 100000 --clients 8 --requests 400 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ragd.config import Settings
from ragd.domain.models import (
    DEFAULT_TENANT,
    Chunk,
    DocumentStatus,
    IndexEntry,
    NewDocument,
)
from ragd.services.container import Services, build_services, migrate_database

SCIFACT = Path(os.environ.get("RAGD_SCIFACT_DIR", "/work/shared/data/scifact"))
CHUNKS_PER_DOC = 10
DOCS_PER_TX = 100


def load_material() -> tuple[list[str], list[str], list[str]]:
    sentences: list[str] = []
    titles: list[str] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            titles.append(rec.get("title") or "untitled")
            sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", rec["text"]) if len(s) > 20)
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh]
    return sentences, titles, queries


def build(svc: Services, n_chunks: int, seed: int) -> float:
    """Documents with chunks and index entries, written as the indexing service does."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    sentences, titles, _ = load_material()
    tenant = DEFAULT_TENANT
    svc.store.ensure_tenant(tenant)
    dim = svc.index.spec.dimension
    t0 = time.perf_counter()
    n_docs = (n_chunks + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC
    for start in range(0, n_docs, DOCS_PER_TX):
        with svc.store.transaction() as tx:
            for d in range(start, min(n_docs, start + DOCS_PER_TX)):
                title = pick.choice(titles)
                texts = [
                    " ".join(pick.choices(sentences, k=pick.randint(3, 7)))
                    for _ in range(CHUNKS_PER_DOC)
                ]
                body = "\n\n".join(texts)
                doc = svc.store.create_document(
                    tx,
                    tenant,
                    NewDocument(
                        source=f"bench/{d:06d}.txt",
                        title=title,
                        media_type="text/plain",
                        content_hash=f"{seed}-{d}",
                        size_bytes=len(body),
                    ),
                )
                chunks, entries, pos = [], [], 0
                vecs = rng.standard_normal((CHUNKS_PER_DOC, dim)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                for i, text in enumerate(texts):
                    chunk = Chunk(
                        id=f"{doc.id}:{i}",
                        document_id=doc.id,
                        tenant_id=tenant,
                        ordinal=i,
                        text=text,
                        char_start=pos,
                        char_end=pos + len(text),
                        token_count=len(text.split()),
                    )
                    pos += len(text) + 2
                    chunks.append(chunk)
                    entries.append(
                        IndexEntry(chunk.id, doc.id, doc.source, title, text, vecs[i], {})
                    )
                svc.store.replace_chunks(tx, tenant, doc.id, chunks)
                svc.index.upsert_document(tx, tenant, doc.id, entries)
                svc.store.set_status(
                    tx, tenant, doc.id, DocumentStatus.INDEXED, chunk_count=len(chunks)
                )
    return time.perf_counter() - t0


def pct(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1e3 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(q[94], 1), "n": len(ms)}


def concurrently(
    clients: int, items: list[str], call: Callable[[str], None]
) -> tuple[list[float], float]:
    """Run ``call`` over items from ``clients`` threads; per-call latencies and wall time."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(item: str) -> None:
        t0 = time.perf_counter()
        call(item)
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, items))
    return latencies, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=400, help="per path and side")
    ap.add_argument("--data-dir", type=Path, help="reuse/keep the built data dir here")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--skip-inproc", action="store_true", help="measure over HTTP only")
    args = ap.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ragd-bench-api-"))
    env_settings = {
        "RAGD_DATA_DIR": str(data_dir),
        "CACHE_TTL_SECONDS": "0",
        "RAGD_EMBEDDED_WORKER": "false",
        "LOG_LEVEL": "warning",
    }
    settings = Settings(data_dir=data_dir, cache_ttl_seconds=0)  # type: ignore[call-arg]
    migrate_database(settings)
    svc = build_services(settings)
    have = svc.store.count_chunks(DEFAULT_TENANT)
    report: dict[str, Any] = {
        "chunks": args.chunks,
        "clients": args.clients,
        "workers": args.workers,
    }
    if have < args.chunks:
        print(f"building {args.chunks:,} chunks in {data_dir} …", flush=True)
        report["build_seconds"] = round(build(svc, args.chunks - have, args.seed + have), 1)
        print(f"  built in {report['build_seconds']} s")
    _, _, queries = load_material()
    rnd = random.Random(args.seed)
    picks = [rnd.choice(queries) for _ in range(args.requests)]
    results: dict[str, dict[str, float]] = {}
    if not args.skip_inproc:
        svc.embedder.embed_query("warm up")  # model load is not what we measure
        for q in picks[:20]:
            svc.answers.answer(DEFAULT_TENANT, q)
        print(f"in-process, {args.clients} threads, {args.requests} calls a path …", flush=True)
        lat, wall = concurrently(
            args.clients, picks, lambda q: svc.search.search(DEFAULT_TENANT, q)
        )
        results["inproc_search"] = {**pct(lat), "rps": round(len(lat) / wall, 1)}
        lat, wall = concurrently(
            args.clients, picks, lambda q: svc.answers.answer(DEFAULT_TENANT, q)
        )
        results["inproc_query"] = {**pct(lat), "rps": round(len(lat) / wall, 1)}
    svc.close()

    port = free_port()
    env = {**os.environ, **env_settings}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ragd.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.2)
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "c"):
                local.c = httpx.Client(base_url=base, timeout=60)
            return local.c  # type: ignore[no-any-return]

        def post(path: str) -> Callable[[str], None]:
            def call(q: str) -> None:
                r = client().post(path, json={"query": q})
                r.raise_for_status()

            return call

        for q in picks[: 20 * args.workers]:  # each worker loads its index and model
            post("/api/v1/query")(q)
        print(f"HTTP, {args.clients} clients …", flush=True)
        for path in ("search", "query"):
            cpu = time.process_time()  # this process is the clients: CPU the server lacks
            lat, wall = concurrently(args.clients, picks, post(f"/api/v1/{path}"))
            client_ms = (time.process_time() - cpu) / len(lat) * 1e3
            results[f"http_{path}"] = {
                **pct(lat),
                "rps": round(len(lat) / wall, 1),
                "client_cpu_ms": round(client_ms, 2),
            }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    for path in ("search", "query") if not args.skip_inproc else ():
        h, i = results[f"http_{path}"], results[f"inproc_{path}"]
        results[f"ratio_{path}"] = {
            "p50": round(h["p50_ms"] / i["p50_ms"], 2),
            "p95": round(h["p95_ms"] / i["p95_ms"], 2),
        }
    report["results"] = results
    print(f"\n{'path':<16}{'p50 ms':>10}{'p95 ms':>10}{'req/s':>9}")
    for name, r in results.items():
        if name.startswith("ratio"):
            print(f"{name:<16}{r['p50']:>9}x{r['p95']:>9}x")
        else:
            extra = (
                f"  (clients' CPU {r['client_cpu_ms']} ms a request)"
                if "client_cpu_ms" in r
                else ""
            )
            print(f"{name:<16}{r['p50_ms']:>10}{r['p95_ms']:>10}{r['rps']:>9}{extra}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
