"""End-to-end ingest throughput beside the bare embedder, on the same texts, same run.

    .venv/bin/python bench/ingest.py [--docs 300] [--corpus ../shared/data/scifact/corpus.jsonl]

Prints: pipeline docs/s (submit → parse → chunk → embed → index → commit, in-process
worker), the bare model's docs/s embedding exactly the passages the pipeline embedded,
their ratio (target ≥ 0.85), and peak RSS. The model is loaded and warmed before either
timing, so neither pays for it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import build_services, migrate_database
from ragd.services.indexing import embedding_text
from ragd.worker import build_worker

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.corpus.is_file():
        sys.exit(f"corpus not found: {args.corpus}")
    with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
        sample = Path(tmp) / "sample.jsonl"
        with args.corpus.open() as src, sample.open("w") as dst:
            for i, line in enumerate(src):
                if i >= args.docs:
                    break
                dst.write(line)
        settings = Settings(data_dir=Path(tmp) / "data")  # type: ignore[call-arg]
        migrate_database(settings)
        svc = build_services(settings)
        # Warm the model over the whole range of input lengths (onnxruntime grows its memory
        # arena per shape), so neither timed run pays for first-time allocations.
        svc.embedder.embed_documents([" ".join(["warm"] * n) for n in range(4, 260, 8)])

        def pipeline(tenant: TenantId) -> tuple[float, int]:
            t0 = time.perf_counter()
            subs = svc.ingest.submit_path(tenant, sample)
            build_worker(svc).run(until_idle=True)
            return time.perf_counter() - t0, len(subs)

        # Pipeline, bare model, pipeline again: the two pipeline runs bracket the bare one,
        # so drift in machine speed during the run does not favour either side.
        first_s, n_docs = pipeline(TenantId("bench-a"))
        texts: list[str] = []
        for doc in svc.store.list_documents(TenantId("bench-a"), limit=100_000):
            for c in svc.store.list_chunks(TenantId("bench-a"), doc.id):
                texts.append(embedding_text(doc, c))
        t1 = time.perf_counter()
        svc.embedder.embed_documents(texts)
        bare_s = time.perf_counter() - t1
        second_s, _ = pipeline(TenantId("bench-b"))
        pipeline_s = (first_s + second_s) / 2
        svc.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "documents": n_docs,
        "chunks": len(texts),
        "pipeline_docs_per_s": round(n_docs / pipeline_s, 2),
        "bare_embedder_docs_per_s": round(n_docs / bare_s, 2),
        "ratio": round(bare_s / pipeline_s, 3),
        "pipeline_seconds": round(pipeline_s, 1),
        "pipeline_runs_seconds": [round(first_s, 1), round(second_s, 1)],
        "bare_seconds": round(bare_s, 1),
        "peak_rss_mb": round(rss_mb),
        "embedding_batch_size": settings.embedding_batch_size,
        "threads": settings.embedding_threads,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"documents            {n_docs} ({len(texts)} chunks)")
    print(f"pipeline             {result['pipeline_docs_per_s']:.2f} docs/s  ({pipeline_s:.1f} s)")
    print(f"bare embedder        {result['bare_embedder_docs_per_s']:.2f} docs/s  ({bare_s:.1f} s)")
    print(f"ratio                {result['ratio']:.3f}  (target >= 0.85)")
    print(f"peak RSS             {result['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
