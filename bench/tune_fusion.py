"""Tune hybrid fusion offline: SciFact *train* qrels (never test) and covidqa-dev.

    .venv/bin/python bench/tune_fusion.py dump --data-dir DIR --dataset PATH [--split train]
        [--title-weight 1] [--b 0.75]
    .venv/bin/python bench/tune_fusion.py grid --lists FILE [--lists FILE ...]

``dump`` needs a data dir already filled by ``ragd eval DATASET --data-dir DIR`` (tenant
"eval", SQLite index). It asks the index once per query for each side's top 100 (dense
and BM25, BM25 with the given title weight and ``b``) and saves them, with what scoring
needs (external ids for BEIR qrels, chunk texts for QA answer spans) and every chunk's
vector (for pseudo-relevance feedback), to ``bench/results/lists-*.pkl``. ``grid`` then
fuses each saved query under every setting in memory: a grid costs seconds, not re-runs.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragd.config import Settings
from ragd.domain.fusion import feedback_vector, rrf_fuse, weighted_fuse
from ragd.domain.metrics import evaluate_run
from ragd.domain.models import ScoredChunk, TenantId
from ragd.domain.qa import answer_recall
from ragd.ports.index import IndexQuery
from ragd.services.container import build_services, migrate_database
from ragd.services.evaluation import load_beir
from ragd.services.qa_evaluation import is_qa_dataset, load_qa
from ragd.services.relevance_feedback import POOL

RESULTS = Path(__file__).resolve().parent / "results"
DEPTH = 100


def load_lists(path: Path) -> Lists:
    """A saved ``Lists`` (pickled by ``dump``, whichever script it is loaded from)."""
    import __main__

    __main__.Lists = Lists  # type: ignore[attr-defined]  # dump pickles it as __main__'s
    sys.modules.setdefault("tune_fusion", sys.modules[__name__])
    loaded: Lists = pickle.loads(path.read_bytes())
    return loaded


@dataclass
class Lists:
    name: str
    kind: str  # "beir" or "qa"
    queries: dict[str, tuple[list[ScoredChunk], list[ScoredChunk]]]
    qvec: dict[str, np.ndarray]
    qrels: dict[str, dict[str, int]]  # beir: qrels; qa: {qid: {answer: 1}}
    ext: dict[str, str]  # chunk id -> external document id
    text: dict[str, str]  # chunk id -> text (qa only)
    ids: list[str]  # every chunk id of the tenant (rows of ``matrix``)
    matrix: np.ndarray  # unit vectors, one row per chunk
    dataset: str = ""  # the dataset's directory


def dump(args: argparse.Namespace) -> None:
    import ragd.adapters.index.sqlite.memory.postings as postings

    postings.B = args.b  # read when a snapshot's length norms are computed
    settings = Settings(data_dir=args.data_dir)  # type: ignore[call-arg]
    migrate_database(settings)
    svc = build_services(settings)
    svc.index._title_weight = args.title_weight  # type: ignore[attr-defined]
    tenant = TenantId("eval")
    if is_qa_dataset(args.dataset):
        qa = load_qa(args.dataset)
        questions = {i.id: i.question for i in qa.items}
        qrels = {i.id: dict.fromkeys(i.answers, 1) for i in qa.items}
        kind = "qa"
    else:
        beir = load_beir(args.dataset, args.split)
        questions, qrels, kind = beir.queries, beir.qrels, "beir"
    lists: dict[str, tuple[list[ScoredChunk], list[ScoredChunk]]] = {}
    qvec: dict[str, np.ndarray] = {}
    for qid, text in questions.items():
        vec = svc.embedder.embed_query(text)
        qvec[qid] = np.asarray(vec, dtype=np.float32)
        base = IndexQuery(text=text, vector=vec, k=DEPTH, candidates=DEPTH)
        dense = svc.index.search(tenant, IndexQuery(**{**base.__dict__, "mode": "dense"}))
        sparse = svc.index.search(tenant, IndexQuery(**{**base.__dict__, "mode": "sparse"}))
        lists[qid] = (dense, sparse)
    with svc.store.db.read() as conn:  # type: ignore[attr-defined]
        ids = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT chunk_id FROM index_chunks WHERE tenant_id = ? ORDER BY chunk_id",
                (tenant,),
            )
        ]
    vectors = svc.index.stored_vectors(tenant, ids)  # type: ignore[attr-defined]
    matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ext: dict[str, str] = {}
    texts: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        for cid, (chunk, doc) in svc.store.get_chunks(tenant, ids[start : start + 500]).items():
            ext[cid] = str(doc.metadata.get("external_id", doc.id))
            if kind == "qa":
                texts[cid] = chunk.text
    split = args.split if kind == "beir" else "qa"
    name = f"{args.dataset.name}-{split}-{args.data_dir.name}-tw{args.title_weight:g}-b{args.b:g}"
    out = Lists(name, kind, lists, qvec, qrels, ext, texts, ids, matrix, str(args.dataset))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"lists-{name}.pkl"
    path.write_bytes(pickle.dumps(out))
    print(f"wrote {path} ({len(lists)} queries, {len(ids)} chunks)")


Fuser = Callable[[Lists, str], list[ScoredChunk]]


def score(lists: Lists, fuse: Fuser) -> dict[str, float]:
    """nDCG@10 (BEIR, document level) or answer recall@5 (QA, passage level)."""
    if lists.kind == "qa":
        hits = [
            answer_recall(
                [lists.text[h.chunk_id] for h in fuse(lists, qid)[:5]],
                list(lists.qrels[qid]),
                5,
            )
            for qid in lists.queries
        ]
        return {"answer_recall@5": sum(hits) / len(hits)}
    run: dict[str, list[str]] = {}
    for qid in lists.queries:
        ranked: list[str] = []
        for h in fuse(lists, qid):
            e = lists.ext[h.chunk_id]
            if e not in ranked:
                ranked.append(e)
        run[qid] = ranked[:100]
    m = evaluate_run(run, lists.qrels)
    return {"ndcg@10": m["ndcg@10"]}


def dense_side(lists: Lists, vec: np.ndarray) -> list[ScoredChunk]:
    scores = lists.matrix @ (vec / np.linalg.norm(vec))
    top = np.argpartition(-scores, DEPTH)[:DEPTH]
    order = sorted(top.tolist(), key=lambda i: (-scores[i], lists.ids[i]))
    return [
        ScoredChunk(lists.ids[i], float(scores[i]), dense_rank=r) for r, i in enumerate(order, 1)
    ]


def fusers(grid: dict[str, Sequence[Any]]) -> dict[str, Fuser]:
    out: dict[str, Fuser] = {
        "dense": lambda L, q: L.queries[q][0],
        "sparse": lambda L, q: L.queries[q][1],
        "rrf k10 ws1.25": lambda L, q: rrf_fuse(*L.queries[q], k=10, sparse_weight=1.25, limit=200),
    }
    for wd, ad, head in itertools.product(grid["wd"], grid["adaptive"], grid["head"]):

        def f(
            L: Lists, q: str, wd: float = wd, ad: float = ad, head: int = head
        ) -> list[ScoredChunk]:
            return weighted_fuse(*L.queries[q], dense_weight=wd, adaptive=ad, head=head, limit=200)

        out[f"ws wd{wd} ad{ad} h{head}"] = f
    for wd, ad, fb, wd2, fw in itertools.product(
        grid["wd"], grid["adaptive"], grid["fb"], grid["wd2"], grid["fbw"]
    ):

        def g(
            L: Lists,
            q: str,
            wd: float = wd,
            ad: float = ad,
            fb: int = fb,
            wd2: float = wd2,
            fw: float = fw,
        ) -> list[ScoredChunk]:
            # As services.relevance_feedback does it: the best chunk of each of the first
            # ``fb`` documents among the top POOL fused hits, unit vectors weighted ``fw``.
            dense, sparse = L.queries[q]
            first = weighted_fuse(dense, sparse, dense_weight=wd, adaptive=ad, limit=POOL)
            chosen: list[str] = []
            seen: set[str] = set()
            for h in first:
                if L.ext[h.chunk_id] not in seen and len(chosen) < fb:
                    seen.add(L.ext[h.chunk_id])
                    chosen.append(h.chunk_id)
            pos = {c: i for i, c in enumerate(L.ids)}
            vec = feedback_vector(L.qvec[q], [L.matrix[pos[c]] for c in chosen], fw)
            return weighted_fuse(
                dense_side(L, vec), sparse, dense_weight=wd2, adaptive=ad, limit=200
            )

        out[f"prf wd{wd} ad{ad} fb{fb} wd2{wd2} w{fw}"] = g
    return out


def grid_cmd(args: argparse.Namespace) -> None:
    all_lists = [load_lists(Path(p)) for p in args.lists]
    grid: dict[str, Sequence[Any]] = {
        "wd": [float(x) for x in args.wd.split(",")],
        "adaptive": [float(x) for x in args.adaptive.split(",")],
        "head": [int(x) for x in args.head.split(",")],
        "fb": [int(x) for x in args.fb.split(",")] if args.fb else [],
        "wd2": [float(x) for x in args.wd2.split(",")],
        "fbw": [float(x) for x in args.fb_weight.split(",")],
    }
    names = [L.name for L in all_lists]
    print(f"{'setting':<34}" + "".join(f"{n[:26]:>28}" for n in names) + f"{'min gain':>10}")
    for label, fuse in fusers(grid).items():
        vals = [next(iter(score(L, fuse).values())) for L in all_lists]
        singles = (
            [
                max(next(iter(score(L, f).values())) for f in (fusers_single(0), fusers_single(1)))
                for L in all_lists
            ]
            if args.gain
            else [0.0] * len(all_lists)
        )
        gain = min(v - s for v, s in zip(vals, singles, strict=True))
        print(f"{label:<34}" + "".join(f"{v:>28.4f}" for v in vals) + f"{gain:>10.4f}", flush=True)


def fusers_single(side: int) -> Fuser:
    return lambda L, q: L.queries[q][side]


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data-dir", type=Path, required=True)
    d.add_argument("--dataset", type=Path, required=True)
    d.add_argument("--split", default="train")
    d.add_argument("--title-weight", type=float, default=1.0)
    d.add_argument("--b", type=float, default=0.75)
    g = sub.add_parser("grid")
    g.add_argument("--lists", nargs="+", required=True)
    g.add_argument("--wd", default="0.3,0.4,0.5,0.6")
    g.add_argument("--adaptive", default="0,1,2")
    g.add_argument("--head", default="10")
    g.add_argument("--fb", default="")
    g.add_argument("--wd2", default="0.6")
    g.add_argument("--fb-weight", default="0.5", help="feedback vector weight(s)")
    g.add_argument("--gain", action="store_true")
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args)
    else:
        grid_cmd(args)


if __name__ == "__main__":
    main()
