"""The worker's commit on Postgres, timed: chunk rows (Store) and pgvector index rows.

Creates a throw-away database, submits documents through ``IngestService`` (so their rows
exist), then times what ``IndexingService.commit`` writes for each, in one transaction per
document: ``Store.replace_chunks`` (the chunks' text and offsets) and
``PgVectorIndex.upsert_document`` (384-d vectors, full-text vectors, term counts). Two
shapes: many small documents (``--docs`` of ``--chunks-per-doc``) and one large one
(``--large-chunks``, the 45 MB paragraph of issue 17 had 42,000). No model runs: the
vectors are random, the texts recombined words.

    eval "$(bash scripts/test-services.sh env | grep RAGD_TEST_)"
    .venv/bin/python bench/pg_write.py --database-url "$RAGD_TEST_DATABASE_URL"
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ragd.adapters.sql.database import normalise_url
from ragd.config import Settings
from ragd.domain.models import Chunk, Document, IndexEntry, TenantId
from ragd.services.container import Services, build_services, migrate_database

TENANT = TenantId("bench")
WORDS = (
    "the of and to in a is that for it as was with be by on not this are or from at which "
    "mitochondrial dysfunction neurodegeneration cohort protein expression receptor cell"
).split()


def chunk_texts(n: int, rng: random.Random) -> list[str]:
    """About 1,000 characters (~200 tokens) each, like a 256-token chunk of prose."""
    return [" ".join(rng.choice(WORDS) for _ in range(170)) for _ in range(n)]


def commit(
    svc: Services, doc: Document, texts: list[str], vectors: np.ndarray
) -> tuple[float, float, float]:
    """One document's chunk and index rows in one transaction: seconds in all, in
    ``replace_chunks``, in ``upsert_document``."""
    chunks, entries, pos = [], [], 0
    for i, text in enumerate(texts):
        c = Chunk(
            id=f"{doc.id}:{doc.version}:{i}",
            document_id=doc.id,
            tenant_id=TENANT,
            ordinal=i,
            text=text,
            char_start=pos,
            char_end=pos + len(text),
            token_count=len(text) // 5,
            page=None,
            heading_path=("Results", "Cohort"),
        )
        pos += len(text) + 1
        chunks.append(c)
        entries.append(
            IndexEntry(
                chunk_id=c.id,
                document_id=doc.id,
                source=doc.source,
                title=doc.title,
                text=text,
                vector=vectors[i],
                metadata=doc.metadata,
            )
        )
    started = time.perf_counter()
    with svc.store.transaction() as tx:
        svc.store.replace_chunks(tx, TENANT, doc.id, chunks)
        store_s = time.perf_counter() - started
        svc.index.upsert_document(tx, TENANT, doc.id, entries)
        index_s = time.perf_counter() - started - store_s
    return time.perf_counter() - started, store_s, index_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("RAGD_TEST_DATABASE_URL"))
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--chunks-per-doc", type=int, default=20)
    ap.add_argument("--large-chunks", type=int, default=20_000)
    ap.add_argument(
        "--drop-hnsw", action="store_true",
        help="drop the shared HNSW index first: what the writes cost without it",
    )  # fmt: skip
    args = ap.parse_args()
    if not args.database_url or not args.database_url.startswith("postgres"):
        sys.exit("set RAGD_TEST_DATABASE_URL (or --database-url) to a Postgres with pgvector")
    admin = create_engine(
        normalise_url(args.database_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = f"ragd_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.database_url).set(database=name).render_as_string(False)
    rng, nprng = random.Random(17), np.random.default_rng(17)
    report: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
            settings = Settings(  # type: ignore[call-arg]
                data_dir=Path(tmp),
                database_url=url,
                vector_store_type="pgvector",
                embedding_model="hashing-384",
                embedded_worker=False,
                statement_timeout_ms=0,  # the one-statement insert of a large document
            )
            migrate_database(settings)
            svc = build_services(settings)
            if args.drop_hnsw:
                svc.index.ensure_ready()
                drop = create_engine(normalise_url(url), poolclass=NullPool)
                with drop.begin() as c:
                    c.exec_driver_sql("DROP INDEX IF EXISTS ix_index_chunks_embedding")
                drop.dispose()
            try:
                small = np.zeros(3)
                n_small = args.docs * args.chunks_per_doc
                for d in range(args.docs):
                    doc = svc.ingest.submit_text(TENANT, f"small document {d}").document
                    texts = chunk_texts(args.chunks_per_doc, rng)
                    vecs = nprng.standard_normal((len(texts), 384)).astype(np.float32)
                    small += commit(svc, doc, texts, vecs)
                doc = svc.ingest.submit_text(TENANT, "the large document").document
                texts = chunk_texts(args.large_chunks, rng)
                vecs = nprng.standard_normal((len(texts), 384)).astype(np.float32)
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                large = commit(svc, doc, texts, vecs)
                rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            finally:
                svc.close()
        report = {
            "small_documents": args.docs,
            "small_chunks": n_small,
            "small_seconds": round(small[0], 2),
            "small_store_index_seconds": [round(small[1], 2), round(small[2], 2)],
            "small_chunks_per_s": round(n_small / small[0]),
            "large_chunks": args.large_chunks,
            "large_seconds": round(large[0], 2),
            "large_store_index_seconds": [round(large[1], 2), round(large[2], 2)],
            "large_chunks_per_s": round(args.large_chunks / large[0]),
            "peak_rss_growth_during_large_commit_mb": round(rss_after - rss_before),
        }
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
