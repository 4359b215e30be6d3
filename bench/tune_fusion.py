"""Tune reciprocal-rank fusion on SciFact *train* qrels (never on test).

    .venv/bin/python bench/tune_fusion.py --data-dir DIR [--dataset ../shared/data/scifact]

Needs a data dir already filled by `ragd eval DATASET --data-dir DIR` (tenant "eval").
Each query's dense and sparse candidate lists are fetched once; every (k, weights) setting
is then fused in memory, so the grid costs seconds, not re-runs.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from ragd.config import Settings
from ragd.domain.fusion import rrf_fuse
from ragd.domain.metrics import evaluate_run
from ragd.domain.models import ScoredChunk, TenantId
from ragd.ports.index import IndexQuery
from ragd.services.container import build_services, migrate_database
from ragd.services.evaluation import load_beir

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    ap.add_argument("--candidates", type=int, default=200)
    args = ap.parse_args()
    dataset = load_beir(args.dataset, "train")
    settings = Settings(data_dir=args.data_dir)  # type: ignore[call-arg]
    migrate_database(settings)
    svc = build_services(settings)
    tenant = TenantId("eval")
    lists: dict[str, tuple[list[ScoredChunk], list[ScoredChunk]]] = {}
    for qid, text in dataset.queries.items():
        vec = svc.embedder.embed_query(text)
        base = IndexQuery(text=text, vector=vec, k=args.candidates, candidates=args.candidates)
        dense = svc.index.search(tenant, IndexQuery(**{**base.__dict__, "mode": "dense"}))
        sparse = svc.index.search(tenant, IndexQuery(**{**base.__dict__, "mode": "sparse"}))
        lists[qid] = (dense, sparse)
    ext: dict[str, str] = {}
    ids = {h.chunk_id for d, s in lists.values() for h in (*d, *s)}
    for cid, (_, doc) in svc.store.get_chunks(tenant, sorted(ids)).items():
        ext[cid] = str(doc.metadata.get("external_id", doc.id))

    def run_for(k: int, wd: float, ws: float) -> dict[str, float]:
        run = {}
        for qid, (dense, sparse) in lists.items():
            fused = rrf_fuse(dense, sparse, k=k, dense_weight=wd, sparse_weight=ws, limit=200)
            ranked: list[str] = []
            for h in fused:
                e = ext[h.chunk_id]
                if e not in ranked:
                    ranked.append(e)
            run[qid] = ranked[:100]
        return evaluate_run(run, dataset.qrels)

    print(f"{'k':>4} {'w_dense':>8} {'w_sparse':>8} {'nDCG@10':>8} {'R@100':>7}")
    results = []
    for k, wd, ws in itertools.product(
        (5, 10, 20, 40, 60, 100), (1.0,), (0.6, 0.8, 1.0, 1.25, 1.5)
    ):
        m = run_for(k, wd, ws)
        results.append((m["ndcg@10"], k, wd, ws, m["recall@100"]))
        print(f"{k:>4} {wd:>8.2f} {ws:>8.2f} {m['ndcg@10']:>8.4f} {m['recall@100']:>7.4f}")
    best = max(results)
    print(
        f"best on train: k={best[1]} dense_weight={best[2]} sparse_weight={best[3]} "
        f"nDCG@10={best[0]:.4f} recall@100={best[4]:.4f}"
    )


if __name__ == "__main__":
    main()
