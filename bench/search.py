"""Search latency of the embedded SqliteIndex at a realistic size.

Builds a throw-away index of ``--chunks`` chunks (random unit vectors, 384-d, in one big
tenant plus a small second tenant so the partition and tenant filters do real work;
texts recombined from SciFact abstract sentences so BM25 sees a realistic vocabulary),
then times dense, sparse and hybrid search for real SciFact queries embedded with the
shipped MiniLM model, with and without the query embedding.

Random vectors are fine for latency: exact search costs the same whatever the vectors
are. They make dense *quality* meaningless, which is measured elsewhere.

Every document is in one of ``COLLECTIONS`` collections and one in ten carries an
allow-list of 1-3 of ``GROUPS`` groups; the "+access" cases search as a caller who may
read 10 of the collections and belongs to 3 groups (the permission filter inside the
index query, ``adapters/index/access.py``), next to the same modes without it in the
same run, and the summary prints what the filter costs.

By default the index searches in memory (the tenant is loaded on its first search, timed
as "cold load"); ``--no-cache`` times the SQL paths instead (sqlite-vec KNN, FTS5 BM25),
which is what every search did before the in-memory cache. Peak RSS is the whole
process's (model, SQLite page cache and mmap included); "cache" is the index's own
estimate of its arrays.

    .venv/bin/python bench/search.py --chunks 100000 --queries 200 [--no-cache] [--json out.json]

``--backend pgvector`` (a throw-away database on ``--database-url``, default
``RAGD_TEST_DATABASE_URL``; loaded with its shared HNSW graph dropped, then the big
tenant's own graph built as the workers would) or ``--backend qdrant`` (qdrant-client's
local mode in memory, writes through the outbox) time the same cases on those indexes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from ragd.adapters.index.sqlite import SqliteIndex
from ragd.adapters.index.sqlite.memory.index import DEFAULT_MAX_BYTES
from ragd.adapters.sql.database import Database
from ragd.domain.access import AccessFilter
from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.ports import Store
from ragd.ports.index import Index, IndexQuery
from ragd.ports.store import Transaction

SCIFACT = Path(os.environ.get("RAGD_SCIFACT_DIR", "/work/shared/data/scifact"))
SPEC = EmbeddingSpec("all-MiniLM-L6-v2", 384)
BIG, SMALL = TenantId("bench-big"), TenantId("bench-small")
CHUNKS_PER_DOC = 10
COLLECTIONS = 50
GROUPS = 200
BATCH = 1000  # chunks per write transaction


ACCESS = AccessFilter(
    collections=tuple(f"c{i:02d}" for i in range(0, COLLECTIONS, COLLECTIONS // 10)),
    principals=("*", "u:bench-user", "g:g007", "g:g042", "g:g150"),
)
"""A caller who reads 10 of the 50 collections (~20% of the chunks) and is in 3 groups."""


def load_sentences() -> tuple[list[str], list[str]]:
    """SciFact abstract sentences and titles: the raw material for synthetic chunks."""
    sentences: list[str] = []
    titles: list[str] = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            titles.append(rec.get("title") or "")
            sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", rec["text"]) if len(s) > 20)
    return sentences, titles


def load_queries(n: int) -> list[str]:
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(n), fh, strict=False)]


Write = Callable[[], AbstractContextManager[Transaction]]


def build_index(index: Index, write: Write, n_chunks: int, seed: int) -> dict[str, float]:
    """Insert ``n_chunks`` into BIG and ``n_chunks // 50`` into SMALL, BATCH per tx."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    sentences, titles = load_sentences()
    langs = ["en"] * 8 + ["de", "fr"]

    def docs(tenant: TenantId, n: int) -> list[tuple[str, list[IndexEntry]]]:
        out = []
        for d in range(0, n, CHUNKS_PER_DOC):
            doc_id = f"{tenant}-d{d // CHUNKS_PER_DOC:06d}"
            title = pick.choice(titles)
            meta = {"lang": pick.choice(langs), "year": 2000 + pick.randrange(25)}
            count = min(CHUNKS_PER_DOC, n - d)
            collection = f"c{pick.randrange(COLLECTIONS):02d}"
            readers = (
                tuple(
                    sorted({f"g:g{pick.randrange(GROUPS):03d}" for _ in range(pick.randint(1, 3))})
                )
                if pick.random() < 0.1
                else ()
            )
            vecs = rng.standard_normal((count, SPEC.dimension)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            entries = [
                IndexEntry(
                    chunk_id=f"{doc_id}-c{i}",
                    document_id=doc_id,
                    source=f"s3://corpus/{doc_id}.pdf",
                    title=title,
                    text=" ".join(pick.choices(sentences, k=pick.randint(4, 9))),
                    vector=vecs[i],
                    metadata=meta,
                    collection_id=collection,
                    readers=readers,
                )
                for i in range(count)
            ]
            out.append((doc_id, entries))
        return out

    timings: dict[str, float] = {}
    for tenant, n in ((BIG, n_chunks), (SMALL, max(n_chunks // 50, CHUNKS_PER_DOC))):
        all_docs = docs(tenant, n)
        t0 = time.perf_counter()
        for start in range(0, len(all_docs), BATCH // CHUNKS_PER_DOC):
            with write() as tx:
                for doc_id, entries in all_docs[start : start + BATCH // CHUNKS_PER_DOC]:
                    index.upsert_document(tx, tenant, doc_id, entries)
        elapsed = time.perf_counter() - t0
        timings[f"{tenant}_chunks"] = n
        timings[f"{tenant}_seconds"] = elapsed
        timings[f"{tenant}_chunks_per_s"] = n / elapsed
        print(f"  {tenant}: {n} chunks in {elapsed:.1f} s ({n / elapsed:,.0f} chunks/s)")
    return timings


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "p50_ms": statistics.median(ms),
        "p95_ms": q[94],
        "max_ms": ms[-1],
        "qps": len(ms) / (sum(ms) / 1000),
    }


def time_each(items: list[Any], fn: Callable[[Any], object]) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
    return out


def open_sqlite(args: argparse.Namespace) -> tuple[Index, Write, Callable[[], None]]:
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="ragd-bench-")
        db_path = Path(tmp.name) / "ragd.db"
    else:
        db_path = args.db
    db = Database(f"sqlite:///{db_path}")
    index = SqliteIndex(db, SPEC, cache_bytes=0 if args.no_cache else DEFAULT_MAX_BYTES)
    index.ensure_ready()

    def close() -> None:
        db.dispose()
        if tmp is not None:
            tmp.cleanup()

    args.db_path = db_path
    return index, db.write, close


def open_pgvector(args: argparse.Namespace) -> tuple[Index, Write, Callable[[], None]]:
    """A fresh database on the server; its HNSW graphs are built after the load."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from ragd.adapters.index.pgvector import PgVectorIndex
    from ragd.adapters.sql.database import normalise_url

    url = args.database_url or os.environ.get("RAGD_TEST_DATABASE_URL")
    if not url:
        sys.exit("--backend pgvector needs --database-url (or RAGD_TEST_DATABASE_URL)")
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    keep = args.pg_database is not None
    name = args.pg_database or f"ragd_bench_search_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        exists = c.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
        ).scalar()
        if not exists:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = Database(make_url(url).set(database=name).render_as_string(False), statement_timeout_ms=0)
    index = PgVectorIndex(db, SPEC)
    if not exists:  # a kept one is used as it is (its shared graph stays dropped)
        index.ensure_ready()
        with db.write() as c:  # bulk load: the graph is built once, after it
            c.exec_driver_sql("DROP INDEX ix_index_chunks_embedding")

    def close() -> None:
        db.dispose()
        if not keep:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    def after_load() -> None:
        with db.write() as c:
            c.exec_driver_sql("ANALYZE index_chunks")
        t0 = time.perf_counter()
        while index.maintain() is not None:  # the big tenant's own graph, as workers do
            pass
        print(f"  tenant graph built in {time.perf_counter() - t0:.1f} s")

    args.after_load = after_load
    return index, db.write, close


def open_qdrant(_args: argparse.Namespace) -> tuple[Index, Write, Callable[[], None]]:
    """qdrant-client's local mode (in memory), its outbox in a SQLite Store."""
    from ragd.adapters.index.qdrant import QdrantIndex
    from ragd.adapters.index.qdrant.client import QdrantCollections, open_client
    from ragd.adapters.index.qdrant.outbox import Outbox
    from ragd.adapters.index.qdrant.sync import OutboxSync
    from ragd.adapters.sql import migrate

    tmp = tempfile.TemporaryDirectory(prefix="ragd-bench-")
    db = Database(f"sqlite:///{tmp.name}/ragd.db")
    migrate.upgrade(db)
    client = open_client(None, ":memory:", api_key=None, timeout=60)
    collections = QdrantCollections(client, "bench")
    outbox = Outbox(db)
    sync = OutboxSync(collections, outbox)
    index = QdrantIndex(collections, outbox, SPEC)
    index.ensure_ready()

    @contextmanager
    def write() -> Iterator[Transaction]:
        with db.write() as tx:
            yield tx
        sync.drain()

    def close() -> None:
        client.close()
        db.dispose()
        tmp.cleanup()

    return index, write, close


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", type=Path, help="reuse/keep the index at this path (built if empty)")
    ap.add_argument(
        "--no-cache", action="store_true", help="search through SQL (vec0, FTS5), not in memory"
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--backend", choices=("sqlite", "pgvector", "qdrant"), default="sqlite")
    ap.add_argument("--database-url", help="--backend pgvector: the server (a database is made)")
    ap.add_argument(
        "--pg-database",
        help="--backend pgvector: reuse/keep this database (built if new) instead of a "
        "throw-away one",
    )
    ap.add_argument(
        "--paired-rounds",
        type=int,
        default=2,
        help="rounds of the paired with/without-permission-filter timing (access cases)",
    )
    ap.add_argument(
        "--cases",
        default="all",
        help="comma-separated case names to time (dense,sparse,hybrid,filters,"
        "hybrid+weighted,hybrid+feedback); default all",
    )
    args = ap.parse_args(argv)
    args.db_path = None
    args.after_load = None
    opener = {"sqlite": open_sqlite, "pgvector": open_pgvector, "qdrant": open_qdrant}
    index, write, close = opener[args.backend](args)
    try:
        return measure(args, index, write)
    finally:
        close()


def measure(args: argparse.Namespace, index: Index, write: Write) -> int:
    """Build the index if it is empty, then time every case; prints and returns 0."""
    from ragd.adapters.embedder.onnx_minilm import OnnxMiniLMEmbedder

    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": os.getloadavg(),
        },
        "args": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if not callable(v)
        },
    }
    if index.count(BIG) == 0:
        print(f"building index: {args.chunks} chunks ({args.backend})")
        result["build"] = build_index(index, write, args.chunks, args.seed)
        if args.after_load is not None:
            args.after_load()
    db_path = args.db_path
    result["db_bytes"] = (
        0
        if db_path is None
        else sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))
    )

    t0 = time.perf_counter()
    index.search(BIG, IndexQuery("cold start", np.ones(SPEC.dimension, np.float32), k=1))
    result["cold_load_s"] = time.perf_counter() - t0
    result["cache_bytes"] = getattr(index, "cached_bytes", 0)

    embedder = OnnxMiniLMEmbedder()
    queries = load_queries(args.queries)
    embedder.embed_query("warm up the model")
    embed_times = time_each(queries, embedder.embed_query)
    vectors = [embedder.embed_query(q) for q in queries]
    rows: dict[str, dict[str, float]] = {"embed_query": percentiles(embed_times)}

    def query(mode: str, text: str, vec: np.ndarray | None, **kw: Any) -> IndexQuery:
        return IndexQuery(
            text=text, vector=vec, mode=mode, k=args.k, candidates=args.candidates, **kw
        )  # type: ignore[arg-type]

    cases: dict[str, dict[str, Any]] = {
        "dense": {},
        "sparse": {},
        "hybrid": {},
        "dense+doc filter": {"filters": SearchFilters(document_ids=(f"{BIG}-d000042",))},
        "hybrid+meta filter (~80%)": {"filters": SearchFilters(metadata={"lang": "en"})},
        "hybrid+meta filter (~0.4%)": {
            "filters": SearchFilters(metadata={"lang": "de", "year": 2010})
        },
        "dense+access": {"filters": SearchFilters(access=ACCESS)},
        "sparse+access": {"filters": SearchFilters(access=ACCESS)},
        "hybrid+access": {"filters": SearchFilters(access=ACCESS)},
        # The shipped fusion, and one round of dense feedback on top (RAGD_FUSION_FEEDBACK).
        "hybrid+weighted": {"fusion": "weighted", "dense_share": 0.4},
        "hybrid+feedback": {"fusion": "weighted", "dense_share": 0.4, FEEDBACK: 2},
    }
    if args.cases != "all":
        wanted = {c.strip() for c in args.cases.split(",")}
        cases = {
            name: kw
            for name, kw in cases.items()
            if name in wanted
            or ("filters" in wanted and "filter" in name)
            or ("access" in wanted and (name.endswith("+access") or "+" not in name))
        }
    pairs = list(zip(queries, vectors, strict=True))
    plain_search = index.search
    for name, kw in cases.items():
        mode = name.split("+")[0]
        kw = dict(kw)
        docs = kw.pop(FEEDBACK, 0)
        search = plain_search if not docs else feedback_searcher(index, docs)
        # Warm the page cache and the connection pool before timing.
        for text, vec in pairs[:10]:
            search(BIG, query(mode, text, vec, **kw))
        alone = time_each(pairs, lambda p, m=mode, kw=kw, s=search: s(BIG, query(m, *p, **kw)))
        with_embed = time_each(
            queries,
            lambda t, m=mode, kw=kw, s=search: s(BIG, query(m, t, embedder.embed_query(t), **kw)),
        )
        rows[f"{name}"] = percentiles(alone)
        rows[f"{name} + embed"] = percentiles(with_embed)
    result["latency"] = rows

    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    where = "SQL (vec0 + FTS5)" if args.no_cache else "in memory"
    if args.backend != "sqlite":
        where = args.backend
    print(f"\n{args.queries} SciFact queries, k={args.k}, candidates={args.candidates}, {where}")
    print(f"index: {args.chunks} chunks, {result['db_bytes'] / 2**20:,.0f} MiB on disk")
    print(
        f"first search (cold load) {result['cold_load_s']:.2f} s, "
        f"cache {result['cache_bytes'] / 2**20:,.0f} MiB, "
        f"peak RSS {result['peak_rss_bytes'] / 2**20:,.0f} MiB"
    )
    print(f"{'case':<36}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'QPS':>9}")
    for name, r in rows.items():
        print(
            f"{name:<36}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['max_ms']:>9.2f}{r['qps']:>9.1f}"
        )
    result["machine"]["loadavg_after"] = os.getloadavg()
    before, after = (
        " ".join(f"{x:.2f}" for x in result["machine"][key])
        for key in ("loadavg_before", "loadavg_after")
    )
    print(f"load average before/after: {before} / {after}")
    costs: dict[str, dict[str, float]] = {}
    for mode in ("dense", "sparse", "hybrid"):
        if f"{mode}+access" not in rows or mode not in rows:
            continue
        # Paired: each query with and without the filter back to back (alternating which
        # goes first), so load drifting on a shared machine hits both alike.
        base: list[float] = []
        filtered: list[float] = []
        plain = SearchFilters()
        access = SearchFilters(access=ACCESS)
        for n, (text, vec) in enumerate(pairs * args.paired_rounds):
            order = [(plain, base), (access, filtered)]
            for flt, out in order if n % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                index.search(BIG, query(mode, text, vec, filters=flt))
                out.append(time.perf_counter() - t0)
        ratios = sorted(f / b for f, b in zip(filtered, base, strict=True))
        costs[mode] = {
            "p50_ms_without": statistics.median(base) * 1e3,
            "p50_ms_with": statistics.median(filtered) * 1e3,
            "cost_of_p50": statistics.median(filtered) / statistics.median(base) - 1,
            "median_paired_cost": statistics.median(ratios) - 1,
        }
        c = costs[mode]
        print(
            f"permission filter, {mode}: p50 {c['p50_ms_without']:.2f} -> "
            f"{c['p50_ms_with']:.2f} ms ({c['cost_of_p50']:+.1%}); median paired cost "
            f"{c['median_paired_cost']:+.1%} (target <= 15%)"
        )
    result["access_cost"] = costs
    if "hybrid + embed" not in rows:
        return _finish(args, result)
    target = rows["hybrid + embed"]["p95_ms"]
    verdict = "meets" if target <= 50 else "MISSES"
    print(f"\nhybrid p95 incl. embedding: {target:.1f} ms ({verdict} the 50 ms target)")
    return _finish(args, result)


FEEDBACK = "feedback documents"


class _ChunkDocuments:
    """What ``feedback_search`` asks the Store (each chunk's document), answered from the
    bench's chunk ids (``{document}-c{i}``): this bench has no Store. In ragd it is one
    indexed read of at most ``POOL`` (20) chunks, like hydrating a result page."""

    def get_chunks(
        self, _tenant: TenantId, chunk_ids: Any, _visible: Any = None
    ) -> dict[str, tuple[None, SimpleNamespace]]:
        return {c: (None, SimpleNamespace(id=c.rsplit("-c", 1)[0])) for c in chunk_ids}


def feedback_searcher(index: Index, documents: int) -> Callable[[TenantId, IndexQuery], Any]:
    """``Index.search`` with one round of dense feedback from ``documents`` documents."""
    from ragd.services.relevance_feedback import RelevanceFeedback, feedback_search

    store = cast(Store, _ChunkDocuments())
    policy = RelevanceFeedback(documents)
    return lambda tenant, q: feedback_search(index, store, tenant, q, policy)


def _finish(args: argparse.Namespace, result: dict[str, Any]) -> int:
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
