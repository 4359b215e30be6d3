"""The knowledge graph's figures: the multi-hop check, and the graph stage's ingest cost.

    .venv/bin/python bench/graph.py multihop [--questions 60] [--k 5]
    .venv/bin/python bench/graph.py ingest [--docs 200] [--corpus PATH]  # SciFact's corpus

``multihop``: generated questions whose answer needs two documents linked only through an
entity (tests/graph_multihop.py); per mode, how many questions get both documents (and
the drug's document) in the top k. ``ingest``: the same documents ingested twice into
fresh data dirs, without and with the graph stage (offline rules, the shipped MiniLM
embedding the entity names), docs/s end to end and the graph stage alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.graph_multihop

from tests.graph_multihop import cases, ingest, score

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
)


def multihop(questions: int, k: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), graph_enabled=True)  # type: ignore[call-arg]
        migrate_database(settings)
        svc = build_services(settings)
        tenant = TenantId("multihop")
        ids = ingest(svc, tenant, cases(questions))
        build_worker(svc).run(until_idle=True)
        out: dict[str, Any] = {"questions": len(ids), "k": k}
        for mode, both, a in score(svc, tenant, ids, ["hybrid", "graph", "hybrid+graph"], k):
            out[mode] = {"both": both, "drug_document": a}
        svc.close()
    return out


def ingest_cost(docs: int, corpus: Path) -> dict[str, Any]:
    lines = corpus.read_text().splitlines()[:docs]
    out: dict[str, Any] = {"documents": len(lines)}
    for graph in (False, True):
        with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
            settings = Settings(data_dir=Path(tmp), graph_enabled=graph)  # type: ignore[call-arg]
            migrate_database(settings)
            svc = build_services(settings)
            svc.embedder.embed_documents(["warm up the model"])
            tenant = TenantId("bench")
            t0 = time.perf_counter()
            for line in lines:
                row = json.loads(line)
                svc.ingest.submit_text(
                    tenant, row["text"], title=row.get("title") or None, source=f"{row['_id']}.txt"
                )
            worker = build_worker(svc)
            if svc.graph_build is not None:
                svc.indexing.graph_build = None  # index first, then time the stage alone
            worker.run(until_idle=True)
            indexed = time.perf_counter() - t0
            key = "with_graph" if graph else "without_graph"
            out[key] = {"index_seconds": round(indexed, 1)}
            if svc.graph_build is not None:
                t1 = time.perf_counter()
                built = svc.graph_build.build()
                stage = time.perf_counter() - t1
                stats = svc.graph.stats(tenant)  # type: ignore[union-attr]
                out[key].update(
                    graph_seconds=round(stage, 1),
                    graph_docs_per_s=round(built.documents / stage, 1),
                    entity_names_embedded=built.entity_vectors,
                    entities=stats.entities,
                    relations=stats.relations,
                    links=stats.links,
                )
                indexed += stage
            out[key]["docs_per_s"] = round(len(lines) / indexed, 2)
            svc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("multihop")
    m.add_argument("--questions", type=int, default=60)
    m.add_argument("--k", type=int, default=5)
    i = sub.add_parser("ingest")
    i.add_argument("--docs", type=int, default=200)
    i.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    if args.what == "multihop":
        print(json.dumps(multihop(args.questions, args.k), indent=2))
    else:
        if not args.corpus.is_file():
            sys.exit(f"corpus not found: {args.corpus}")
        print(json.dumps(ingest_cost(args.docs, args.corpus), indent=2))


if __name__ == "__main__":
    main()
