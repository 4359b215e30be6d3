"""Offline: whole-document BM25 fused with ragd's dense side on SciFact (issue 22, item 1).

ragd's BM25 ranks chunks and a document takes its best chunk's score; the issue's offline
pipeline scored whole abstracts. This asks what document-level BM25 (FTS5's porter tokens,
the title counted ``tw`` times, BM25 ``b``) would add, fused at document level with ragd's
dense side (best chunk cosine), both rescaled to 0-1 over their top 100, from the per-query
lists ``tune_fusion.py dump`` wrote. Choose on the train lists; run the test lists only to
report the train-chosen setting.

    python bench/tune_fusion.py dump --data-dir DIR --dataset ../shared/data/scifact --split train
    python bench/doc_bm25_offline.py bench/results/lists-scifact-train-*.pkl
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import tune_fusion as tf

from ragd.adapters.index.tokens import Fts5Tokenizer
from ragd.adapters.index.words import query_words
from ragd.domain.metrics import evaluate_run

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
Scores = dict[str, float]


def main(path: str) -> None:
    lists = tf.load_lists(Path(path))
    tok = Fts5Tokenizer()

    def toks(text: str) -> list[str]:
        return [t for w in query_words(text) for t in tok.query_word(w)]

    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
    ids = [d["_id"] for d in corpus]
    terms = []
    for i in range(0, len(corpus), 500):
        terms += tok.chunks([(d.get("title") or "", d["text"]) for d in corpus[i : i + 500]])
    qtext = {}
    for line in (SCIFACT / "queries.jsonl").open():
        rec = json.loads(line)
        qtext[rec["_id"]] = rec["text"]

    def bm25(tw: int, b: float, k1: float = 1.2) -> dict[str, Scores]:
        freqs, df, lens = [], collections.Counter[str](), []
        for ct in terms:
            c = collections.Counter(ct.text)
            for w, n in ct.title.items():
                c[w] += tw * n
            freqs.append(c)
            df.update(c.keys())
            lens.append(sum(ct.text.values()) + tw * sum(ct.title.values()))
        length = np.array(lens, dtype=float)
        avg, n_docs = length.mean(), len(freqs)
        postings: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
        for i, c in enumerate(freqs):
            for w, f in c.items():
                postings[w].append((i, f))
        out = {}
        for q in lists.queries:
            s = np.zeros(n_docs)
            for w in set(toks(qtext[q])):
                idf = math.log(1 + (n_docs - df[w] + 0.5) / (df[w] + 0.5))
                for i, f in postings.get(w, []):
                    s[i] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * length[i] / avg))
            out[q] = {ids[i]: float(s[i]) for i in np.argsort(-s)[:100] if s[i] > 0}
        return out

    def best_per_doc(side: int) -> dict[str, Scores]:
        out: dict[str, Scores] = {}
        for q, pair in lists.queries.items():
            d: Scores = {}
            for h in pair[side]:
                e = lists.ext[h.chunk_id]
                d[e] = max(d.get(e, -9.0), h.score)
            out[q] = d
        return out

    def rescale(d: Scores) -> Scores:
        if not d:
            return {}
        top = sorted(d.values(), reverse=True)[:100]
        hi, lo = top[0], top[-1]
        return {k: (x - lo) / (hi - lo) if hi > lo else 1.0 for k, x in d.items()}

    def fuse(parts: list[Scores], weights: list[float]) -> list[str]:
        out: collections.Counter[str] = collections.Counter()
        for p, w in zip(parts, weights, strict=True):
            for k, v in rescale(p).items():
                out[k] += w * v
        return [k for k, _ in out.most_common(100)]

    def ndcg(run: dict[str, list[str]]) -> float:
        return float(evaluate_run(run, lists.qrels)["ndcg@10"])

    dense, chunk_sparse = best_per_doc(0), best_per_doc(1)
    print("dense", round(ndcg({q: sorted(d, key=lambda k: -d[k]) for q, d in dense.items()}), 4))
    print(
        "chunk BM25",
        round(ndcg({q: sorted(d, key=lambda k: -d[k]) for q, d in chunk_sparse.items()}), 4),
    )
    for wd in (0.3, 0.4, 0.5):
        run = {q: fuse([dense[q], chunk_sparse[q]], [wd, 1 - wd]) for q in dense}
        print(f"dense + chunk BM25, document level, wd {wd}: {ndcg(run):.4f}")
    for tw, b in itertools.product((1, 2, 3), (0.75, 0.9)):
        docs = bm25(tw, b)
        line = [
            f"title x{tw} b {b}: document BM25 {ndcg({q: list(d) for q, d in docs.items()}):.4f}"
        ]
        for wd in (0.3, 0.4, 0.5):
            run = {q: fuse([dense[q], docs[q]], [wd, 1 - wd]) for q in dense}
            line.append(f"+dense wd {wd} {ndcg(run):.4f}")
        print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
