"""SciFact on Postgres + pgvector without re-embedding: copy an embedded ragd index, query it.

Ingesting SciFact embeds 10k chunks with MiniLM on the CPU (~25 minutes on 2 cores). The
vectors do not depend on the backend, so this script takes a SQLite ragd database that
``ragd eval --data-dir DIR`` already built (tenant ``eval``), and:

1. copies the file to a temporary directory (the source is never opened for writing);
2. creates a fresh Postgres database (``ragd_scifact_<random>`` on ``DATABASE_URL``'s
   server, dropped at the end unless ``--keep``), runs the Alembic migrations there;
3. copies the Store rows (tenants, documents, chunks) with SQLAlchemy Core, and writes the
   Index rows through ``PgVectorIndex.upsert_document`` inside Store transactions, exactly
   as the ingestion worker would, with each chunk's vector read from sqlite-vec;
4. runs ``run_queries`` (the code behind ``ragd eval``) per mode on services built by
   ``build_services`` with ``VECTOR_STORE_TYPE=pgvector`` and the same overrides as
   ``ragd eval`` (``MAX_RETRIEVAL_RESULTS=1000``, ``RAGD_FUSION_CANDIDATES=200``);
5. with ``--compare-sqlite``, runs the same queries on the SQLite copy.

    eval "$(bash scripts/test-services.sh env)"
    .venv/bin/python bench/pg_from_sqlite.py --sqlite /tmp/scifact-idx/ragd.db \\
        --dataset /work/shared/data/scifact --compare-sqlite [--json out.json]

``--sparse-variants`` also scores sparse search under other title/text weights and
length normalisations of the ranking (how the default was chosen; see
bench/pgvector_results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ragd.adapters.index.pgvector import PgVectorIndex, factory
from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database, normalise_url
from ragd.adapters.sql.schema import chunks, documents, tenants
from ragd.config import Settings
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.services.container import build_services
from ragd.services.evaluation import load_beir, run_queries
from ragd.services.search import FusionPolicy, SearchService

TENANT = TenantId("eval")
EVAL_OVERRIDES: dict[str, Any] = {"max_retrieval_results": 1000, "fusion_candidates": 200}
DOCS_PER_TX = 200
ROWS_PER_INSERT = 2000


def copy_store(src: Database, dst: Database) -> int:
    """Tenants, documents and chunks, in batches; returns the chunks copied."""
    with src.read() as s:
        tenant_rows = [dict(r._mapping) for r in s.execute(select(tenants))]
        doc_rows = [dict(r._mapping) for r in s.execute(select(documents))]
        chunk_rows = [
            {k: v for k, v in r._mapping.items() if k != "pk"}
            for r in s.execute(select(chunks).order_by(chunks.c.pk))
        ]
    with dst.write() as d:
        d.execute(insert(tenants), tenant_rows)
        for i in range(0, len(doc_rows), ROWS_PER_INSERT):
            d.execute(insert(documents), doc_rows[i : i + ROWS_PER_INSERT])
        for i in range(0, len(chunk_rows), ROWS_PER_INSERT):
            d.execute(insert(chunks), chunk_rows[i : i + ROWS_PER_INSERT])
    return len(chunk_rows)


def index_entries(src: Database, dim: int) -> dict[tuple[str, str], list[IndexEntry]]:
    """The SQLite index's rows as IndexEntry values, per (tenant, document)."""
    with src.read() as s:
        rows = s.exec_driver_sql(
            "SELECT c.tenant_id, c.document_id, c.chunk_id, c.source, c.metadata,"
            " v.embedding, ch.text, d.title"
            " FROM index_chunks c JOIN vec_chunks v ON v.rowid = c.rowid"
            " JOIN chunks ch ON ch.id = c.chunk_id JOIN documents d ON d.id = c.document_id"
            " ORDER BY c.document_id, ch.ordinal"
        ).all()
    out: dict[tuple[str, str], list[IndexEntry]] = defaultdict(list)
    for tenant, doc_id, chunk_id, source, meta, blob, text, title in rows:
        vec = np.frombuffer(blob, dtype=np.float32)
        assert vec.shape == (dim,), vec.shape
        out[(tenant, doc_id)].append(
            IndexEntry(chunk_id, doc_id, source, title, text, vec.copy(), json.loads(meta))
        )
    return out


def load_index(dst: Database, index: PgVectorIndex, entries: dict[Any, Any]) -> None:
    items = list(entries.items())
    for i in range(0, len(items), DOCS_PER_TX):
        with dst.write() as tx:
            for (tenant, doc_id), doc_entries in items[i : i + DOCS_PER_TX]:
                index.upsert_document(tx, TenantId(tenant), doc_id, doc_entries)


def evaluate(settings: Settings, dataset: Any, modes: list[str]) -> list[dict[str, Any]]:
    svc = build_services(settings)
    try:
        return [_row(run_queries(svc.search, TENANT, dataset, m)) for m in modes]  # type: ignore[arg-type]
    finally:
        svc.close()


def _row(report: Any) -> dict[str, Any]:
    return {
        "mode": report.mode,
        **{k: round(report.metrics[k], 4) for k in ("ndcg@10", "recall@10", "recall@100")},
        "p50_ms": round(report.latency_ms_p50, 1),
        "p95_ms": round(report.latency_ms_p95, 1),
    }


def variant(svc: Any, dataset: Any, mode: str, **index_kwargs: Any) -> dict[str, Any]:
    """``mode``'s figures on the loaded index, searched by an index with other settings."""
    idx = PgVectorIndex(
        svc.search.index._db,  # the loaded database
        svc.embedder.spec,
        **index_kwargs,
    )
    search = SearchService(svc.store, idx, svc.embedder, fusion=FusionPolicy(), max_k=1000)
    return _row(run_queries(search, TENANT, dataset, mode))  # type: ignore[arg-type]


def sparse_variants(settings: Settings, dataset: Any) -> list[dict[str, Any]]:
    """Sparse nDCG@10 under other ranking settings, on the same loaded index."""
    svc = build_services(settings)
    out = []
    try:
        for weights, norm in [
            ((1.0, 0.0, 0.0, 1.0), 0),
            ((1.0, 0.0, 0.0, 1.0), 1),
            ((0.8, 0.0, 0.0, 1.0), 1),
            ((0.6, 0.0, 0.0, 1.0), 1),
            ((1.0, 0.0, 0.0, 0.8), 1),
        ]:
            row = variant(svc, dataset, "sparse", sparse_weights=weights, sparse_normalization=norm)
            out.append({"weights": weights, "normalization": norm, **row})
            print(f"  weights={weights} norm={norm}: nDCG@10 {row['ndcg@10']}", file=sys.stderr)
    finally:
        svc.close()
    return out


def budget_variants(settings: Settings, dataset: Any, budgets: list[int]) -> list[dict[str, Any]]:
    """Sparse and hybrid figures when at most ``budget`` rows are scored per text search
    (``RAGD_PG_SPARSE_MAX_SCORED``), on the same loaded index."""
    svc = build_services(settings)
    out = []
    try:
        for budget in budgets:
            for mode in ("sparse", "hybrid"):
                row = variant(svc, dataset, mode, sparse_max_scored=budget)
                out.append({"sparse_max_scored": budget, **row})
                print(f"  max_scored={budget} {mode}: nDCG@10 {row['ndcg@10']}", file=sys.stderr)
    finally:
        svc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sqlite", type=Path, default=Path("/tmp/scifact-idx/ragd.db"))
    ap.add_argument("--dataset", type=Path, default=Path("/work/shared/data/scifact"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--modes", default="dense,sparse,hybrid")
    ap.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--keep", action="store_true", help="keep the Postgres database")
    ap.add_argument("--compare-sqlite", action="store_true")
    ap.add_argument("--sparse-variants", action="store_true")
    ap.add_argument(
        "--sparse-budgets",
        help="comma-separated RAGD_PG_SPARSE_MAX_SCORED values to evaluate (sparse, hybrid)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgres", "postgresql")):
        sys.exit("set DATABASE_URL (or --database-url) to a Postgres server with pgvector")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    dataset = load_beir(args.dataset, args.split)
    work = Path(tempfile.mkdtemp(prefix="ragd-pgcopy-"))
    name = f"ragd_scifact_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        normalise_url(args.database_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    report: dict[str, Any] = {"database": name, "split": args.split}
    try:
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{args.sqlite}{suffix}").exists():
                shutil.copy2(f"{args.sqlite}{suffix}", work / f"ragd.db{suffix}")
        src = Database(f"sqlite:///{work / 'ragd.db'}")
        migrate.upgrade(src)  # the copy may predate newer Store revisions
        with src.read() as s:
            meta = dict(s.exec_driver_sql("SELECT key, value FROM index_meta").all())
        spec = EmbeddingSpec(meta["embedding_model"], int(meta["embedding_dimension"]))
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(args.database_url).set(database=name).render_as_string(False)
        settings = Settings(
            vector_store_type="pgvector",
            database_url=url,
            embedding_model=spec.model,
            **EVAL_OVERRIDES,
        )  # type: ignore[call-arg]
        dst = Database(url)
        migrate.upgrade(dst)
        index = factory.build(dst, spec, settings.index)
        index.ensure_ready()
        t0 = time.perf_counter()
        n_chunks = copy_store(src, dst)
        t1 = time.perf_counter()
        entries = index_entries(src, spec.dimension)
        t2 = time.perf_counter()
        load_index(dst, index, entries)
        t3 = time.perf_counter()
        dst.engine.dispose()
        with create_engine(
            normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool
        ).connect() as c:
            c.exec_driver_sql("VACUUM ANALYZE")
        report["load"] = {
            "chunks": n_chunks,
            "store_copy_s": round(t1 - t0, 1),
            "index_read_s": round(t2 - t1, 1),
            "index_write_s": round(t3 - t2, 1),
            "index_rows_per_s": round(n_chunks / (t3 - t2)),
        }
        print(f"loaded {n_chunks} chunks into {name}: {report['load']}", file=sys.stderr)
        report["pgvector"] = evaluate(settings, dataset, modes)
        if args.sparse_variants:
            report["sparse_variants"] = sparse_variants(settings, dataset)
        if args.sparse_budgets:
            budgets = [int(b) for b in args.sparse_budgets.split(",")]
            report["sparse_budgets"] = budget_variants(settings, dataset, budgets)
        dst.dispose()
        if args.compare_sqlite:
            sqlite_settings = Settings(
                vector_store_type="sqlite",
                database_url=f"sqlite:///{work / 'ragd.db'}",
                embedding_model=spec.model,
                **EVAL_OVERRIDES,
            )  # type: ignore[call-arg]
            src.dispose()
            report["sqlite"] = evaluate(sqlite_settings, dataset, modes)
    finally:
        if not args.keep:
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    for backend in ("pgvector", "sqlite"):
        for row in report.get(backend, []):
            print(
                f"{backend:9} {row['mode']:7} nDCG@10 {row['ndcg@10']:.4f}  "
                f"R@10 {row['recall@10']:.4f}  R@100 {row['recall@100']:.4f}  "
                f"p50 {row['p50_ms']:.1f} ms  p95 {row['p95_ms']:.1f} ms"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
