"""pgvector Index at scale: tenant-filtered recall and latency, bulk load and index build.

Builds a throw-away Postgres database holding ``--chunks`` synthetic 384-d chunks spread
over ``--tenants`` tenants of Zipf-skewed sizes (the largest holds about a fifth of all
rows, the smallest a few hundred), loads them through ``PgVectorIndex.upsert_document``
(``--load-workers`` tenants at a time) with the shared HNSW index dropped (bulk mode),
builds it, then has ``PgVectorIndex.maintain`` build the per-tenant graphs the workers
would (every tenant above ``EXACT_BELOW`` rows). It then times tenant-filtered dense,
sparse and hybrid searches, measures dense recall@10 against exact search (numpy, in
float64, on the very vectors loaded) and the sparse top 10's overlap with an unbounded
sparse search (every matching row scored, ``RAGD_PG_SPARSE_MAX_SCORED`` off).

Vectors are a Gaussian mixture (1,000 centres, noise of the same order as the spread
between centres) rather than uniform noise: real embeddings are clustered, and uniform
384-d noise is a pathological case for any graph index. Within a centre the noise is
isotropic, so locally this is harder for HNSW than real embeddings are. Texts are
recombined SciFact sentences, queries real SciFact queries for the sparse side.

    eval "$(bash scripts/test-services.sh env)"
    .venv/bin/python bench/pgvector.py --chunks 1000000 --tenants 100 --queries 200 --keep
    .venv/bin/python bench/pgvector.py --reuse ragd_bench_... --ef-search 200  # same data

Targets (issue 5): recall@10 >= 0.95, p95 <= 50 ms for tenant-filtered dense and hybrid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ragd.adapters.index.pgvector import sql as pgvector_sql
from ragd.adapters.index.pgvector.index import EXACT_BELOW, SPARSE_MAX_SCORED, PgVectorIndex
from ragd.adapters.sql.database import Database, normalise_url
from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.ports.index import IndexQuery

SCIFACT = Path(os.environ.get("RAGD_SCIFACT_DIR", "/work/shared/data/scifact"))
DIM = 384
SPEC = EmbeddingSpec("bench-384", DIM)
CHUNKS_PER_DOC = 20
DOCS_PER_TX = 25


def tenant_sizes(total: int, tenants: int) -> list[int]:
    weights = np.array([1.0 / (i + 1) for i in range(tenants)])
    sizes = np.maximum(100, np.floor(weights / weights.sum() * total)).astype(int)
    sizes[0] += total - int(sizes.sum())
    return [int(s) for s in sizes]


def make_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((1000, DIM)).astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        idx = rng.integers(0, len(centres), m)
        out[start : start + m] = centres[idx] + rng.standard_normal((m, DIM)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def load_text() -> tuple[list[str], list[str]]:
    sentences: list[str] = []
    queries: list[str] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", text) if len(s) > 20)
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh]
    return sentences, queries


def server_settings(engine: Engine) -> dict[str, str]:
    """The server settings that shape these figures, for the report."""
    names = ("server_version", "shared_buffers", "effective_cache_size", "work_mem",
             "max_parallel_maintenance_workers", "jit")  # fmt: skip
    with engine.connect() as c:
        return {n: str(c.exec_driver_sql(f"SHOW {n}").scalar()) for n in names}


def load_tenant(
    db: Database, index: PgVectorIndex, t: int, size: int, vectors: np.ndarray,
    sentences: list[str],
) -> None:  # fmt: skip
    """One tenant's chunks through the write path the worker uses, 25 documents a
    transaction; texts drawn from a generator of the tenant's own, so the data do not
    depend on which loader thread ran first."""
    pyrng = random.Random(5_000 + t)
    tenant = TenantId(f"t{t:03d}")
    docs = [range(i, min(i + CHUNKS_PER_DOC, size)) for i in range(0, size, CHUNKS_PER_DOC)]
    for d0 in range(0, len(docs), DOCS_PER_TX):
        with db.write() as tx:
            for doc in docs[d0 : d0 + DOCS_PER_TX]:
                doc_id = f"{tenant}-d{doc.start // CHUNKS_PER_DOC}"
                entries = [
                    IndexEntry(
                        f"{tenant}-c{i}",
                        doc_id,
                        f"src/{doc_id}.pdf",
                        f"Document {doc_id}",
                        " ".join(pyrng.sample(sentences, 2)),
                        vectors[i],
                        {"lang": "de" if i % 10 == 0 else "en"},
                    )
                    for i in doc
                ]
                index.upsert_document(tx, tenant, doc_id, entries)


def bulk_load(
    args: argparse.Namespace, db: Database, index: PgVectorIndex, url: str,
    sizes: list[int], offsets: list[int], vectors: np.ndarray, sentences: list[str],
) -> dict[str, float]:  # fmt: skip
    """Load every tenant with the HNSW index dropped, then build it once (bulk mode)."""
    index.ensure_ready()
    with db.write() as c:
        c.exec_driver_sql("DROP INDEX ix_index_chunks_embedding")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.load_workers) as pool:
        futures = {
            pool.submit(load_tenant, db, index, t, size, vectors[off : off + size], sentences): t
            for t, (size, off) in enumerate(zip(sizes, offsets, strict=True))
        }
        for done in as_completed(futures):
            done.result()
            t = futures[done]
            print(f"  loaded tenant t{t:03d} ({sizes[t]} chunks)", file=sys.stderr)
    load_s = time.perf_counter() - t0
    build = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with build.connect() as c:
            c.exec_driver_sql(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
            [hnsw] = [
                stmt
                for stmt in pgvector_sql.schema_statements(DIM, 16, 64, btree_gin=True)
                if "USING hnsw" in stmt
            ]
            t1 = time.perf_counter()
            c.exec_driver_sql(hnsw)  # the adapter's own DDL
            build_s = time.perf_counter() - t1
            c.exec_driver_sql("VACUUM ANALYZE")
    finally:
        build.dispose()
    return {
        "seconds": round(load_s, 1),
        "rows_per_s": round(sum(sizes) / load_s),
        "load_workers": args.load_workers,
        "hnsw_build_s": round(build_s, 1),
    }


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--maintenance-work-mem", default="1GB")
    ap.add_argument("--keep", action="store_true", help="keep the database (see --reuse)")
    ap.add_argument("--reuse", metavar="DATABASE", help="query a database kept by --keep")
    ap.add_argument("--load-workers", type=int, default=2, help="tenants loaded in parallel")
    ap.add_argument("--ef-search", type=int, default=100, help="RAGD_HNSW_EF_SEARCH")
    ap.add_argument(
        "--sparse-max-scored", type=int, default=SPARSE_MAX_SCORED,
        help="RAGD_PG_SPARSE_MAX_SCORED for the searches",
    )  # fmt: skip
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.database_url or not args.database_url.startswith("postgres"):
        sys.exit("set DATABASE_URL (or --database-url) to a Postgres server with pgvector")
    rng = np.random.default_rng(5)
    sizes = tenant_sizes(args.chunks, args.tenants)
    vectors = make_vectors(sum(sizes), rng)
    sentences, queries = load_text()
    offsets = [int(o) for o in np.cumsum([0, *sizes[:-1]])]
    admin = create_engine(
        normalise_url(args.database_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = args.reuse or f"ragd_bench_{uuid.uuid4().hex[:10]}"
    if not args.reuse:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.database_url).set(database=name).render_as_string(False)
    report: dict[str, Any] = {
        "chunks": int(sum(sizes)),
        "tenants": args.tenants,
        "largest_tenant": max(sizes),
        "database": name,
        "server": server_settings(admin),
    }
    db = Database(url, pool_size=args.load_workers + 1, statement_timeout_ms=0)
    try:
        index = PgVectorIndex(
            db, SPEC, ef_search=args.ef_search, sparse_max_scored=args.sparse_max_scored
        )
        report["ef_search"] = args.ef_search
        report["sparse_max_scored"] = args.sparse_max_scored
        # The oracle for the sparse side: every matching row scored (no budget).
        unbounded = PgVectorIndex(db, SPEC, sparse_max_scored=2**31 - 1)
        if not args.reuse:
            loaded = bulk_load(args, db, index, url, sizes, offsets, vectors, sentences)
            report["bulk_load"] = loaded
            print(f"bulk load {report['bulk_load']}", file=sys.stderr)
        # What the workers do in the background: a graph of its own for every tenant
        # above the exact threshold (idempotent; on --reuse, builds only what is missing).
        t0, built = time.perf_counter(), []
        while (tenant := index.maintain()) is not None:
            built.append(tenant)
        report["tenant_graphs"] = {
            "built": len(built),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(f"tenant graphs {report['tenant_graphs']}", file=sys.stderr)

        # Queries: a tenant chosen in proportion to sqrt(size) (big and small both seen),
        # a query vector near one of its chunks.
        w = np.sqrt(np.array(sizes, dtype=float))
        picks = rng.choice(len(sizes), size=args.queries, p=w / w.sum())
        results: dict[str, dict[str, list[float]]] = {}
        for label, filters in (
            ("tenant", SearchFilters()),
            ("tenant+filter", SearchFilters(metadata={"lang": "en"})),
        ):
            lat = {"dense": [], "hybrid": [], "sparse": []}  # type: dict[str, list[float]]
            recalls: list[float] = []
            graph_recalls: list[float] = []  # tenants above EXACT_BELOW: the HNSW path
            overlaps: list[float] = []
            for qi, t in enumerate(picks):
                size, off = sizes[t], offsets[t]
                tenant = TenantId(f"t{t:03d}")
                base = vectors[off + int(rng.integers(0, size))]
                q = base + 0.5 * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
                q /= np.linalg.norm(q)
                t0 = time.perf_counter()
                got = index.search(tenant, IndexQuery("", q, mode="dense", k=10, filters=filters))
                lat["dense"].append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                text = queries[qi % len(queries)]
                index.search(tenant, IndexQuery(text, q, k=10, filters=filters, rrf_k=10))
                lat["hybrid"].append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                words = index.search(tenant, IndexQuery(text, None, "sparse", 10, filters))
                lat["sparse"].append((time.perf_counter() - t0) * 1e3)
                exact = unbounded.search(tenant, IndexQuery(text, None, "sparse", 10, filters))
                if exact:
                    overlap = {h.chunk_id for h in words} & {h.chunk_id for h in exact}
                    overlaps.append(len(overlap) / len(exact))
                tv = vectors[off : off + size].astype(np.float64)
                sims = tv @ q.astype(np.float64)
                if label != "tenant":
                    sims[np.arange(size) % 10 == 0] = -np.inf
                truth = {f"{tenant}-c{i}" for i in np.argsort(-sims)[:10]}
                recalls.append(len(truth & {h.chunk_id for h in got}) / 10)
                if size > EXACT_BELOW:
                    graph_recalls.append(recalls[-1])
            results[label] = {
                "recall@10": round(statistics.mean(recalls), 4),
                "hnsw_recall@10": round(statistics.mean(graph_recalls), 4),
                "hnsw_queries": len(graph_recalls),
                # Sparse top 10 with the default scoring budget vs every matching row scored.
                "sparse_overlap@10": round(statistics.mean(overlaps), 4),
                **{f"{m}_p{p}_ms": round(pct(v, p), 1) for m, v in lat.items() for p in (50, 95)},
            }
            print(f"{label}: {results[label]}", file=sys.stderr)
        report["search"] = results
    finally:
        db.dispose()
        if not (args.keep or args.reuse):
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
