"""How far sentence scoring can take extractive answers on covidqa-dev (issue 22, item 2).

    .venv/bin/python bench/extractive_ceiling.py --lists bench/results/lists-ctitle-tw1.pkl
        --data-dir DIR

Over each question's hybrid top-5 passages (as ``bench/tune_extractive.py``), prints:

* the ceilings: a gold span inside the passages, inside one quotable sentence, inside 2 or
  3 contiguous ones, and how often the shipped scorer's best sentence holds it;
* a logistic model on 15 sentence features (fit 2-fold by document), for the sentence it
  ranks first, and the stray share left when the least confident answers are declined;
* collection-wide IDF (over every dumped chunk) against the scorer's per-question IDF.

Sentence vectors come from the same text-hash cache as ``tune_extractive.py``.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tune_extractive import CachedEmbedder, _questions, evaluate
from tune_fusion import load_lists

from ragd.adapters.llm import extractive
from ragd.adapters.llm.extractive import ExtractiveLLM, _bm25, _candidates
from ragd.config import Settings
from ragd.domain.fusion import weighted_fuse
from ragd.domain.qa import holds_answer, normalise
from ragd.domain.text import content_terms
from ragd.services.container import build_embedder
from ragd.services.qa_evaluation import load_qa

FEATURES = 15


def features(question: str, cands: list[Any], vectors: np.ndarray, qv: np.ndarray) -> np.ndarray:
    lexical, cov_list = _bm25(Counter(content_terms(question)), cands)
    top = max(lexical) or 1.0
    lex, cov = np.array(lexical) / top, np.array(cov_list)
    cos = vectors @ qv
    p = np.array([c.passage for c in cands])
    pos = np.array([c.position for c in cands])
    at = {(c.passage, c.position): i for i, c in enumerate(cands)}

    def side(values: np.ndarray, d: int) -> np.ndarray:
        return np.array(
            [
                values[at[(c.passage, c.position + d)]]
                if (c.passage, c.position + d) in at
                else 0.0
                for c in cands
            ]
        )

    cols = [
        lex, cov, cos, cos - cos.max(), cov - cov.max(),
        *((p == r) * 1.0 for r in (1, 2, 3, 4)),
        (pos == 0) * 1.0,
        np.log([len(c.text) for c in cands]) / 6,
        np.maximum(side(cos, -1), side(cos, 1)),
        np.maximum(side(cov, -1), side(cov, 1)),
        np.array([cos[p == q].max() for q in p]),
        np.array([cov[p == q].max() for q in p]),
    ]  # fmt: skip
    return np.stack([*cols, np.ones(len(cands))], axis=1)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    w = np.zeros(x.shape[1])
    for _ in range(30):  # Newton steps
        p = 1 / (1 + np.exp(-x @ w))
        hess = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, x.T @ (p - y) + l2 * w)
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lists", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    args = ap.parse_args()
    lists = load_lists(args.lists)
    settings = Settings(data_dir=args.data_dir)  # type: ignore[call-arg]
    r = settings.retrieval
    questions = _questions(lists)
    embedder = CachedEmbedder(build_embedder(settings))
    rows = []
    for qid, (dense, sparse) in lists.queries.items():
        fused = weighted_fuse(dense, sparse, dense_weight=r.fusion_dense_share, limit=5)
        passages = [lists.text[h.chunk_id] for h in fused]
        answers = tuple(lists.qrels[qid])
        cands = _candidates(passages)
        x = features(questions[qid], cands, embedder.embed_documents([c.text for c in cands]),
                     embedder.embed_query(questions[qid]))  # fmt: skip
        gold = [normalise(a) for a in answers]
        label = []
        for c in cands:  # the sentence overlaps a gold span in its passage
            text, s = normalise(passages[c.passage]), normalise(c.text)
            start = text.find(s)
            spans = [(text.find(g), len(g)) for g in gold]
            label.append(
                any(
                    start >= 0 and g >= 0 and start < g + n and g < start + len(s) for g, n in spans
                )
            )
        rows.append((questions[qid], passages, answers, cands, x, np.array(label, dtype=float)))
    n = len(rows)

    def window(cands: list[Any], i: int, k: int, answers: tuple[str, ...]) -> bool:
        at = {(c.passage, c.position): c for c in cands}
        got = [at.get((cands[i].passage, cands[i].position + d)) for d in range(k)]
        return all(got) and holds_answer(" ".join(c.text for c in got if c), answers)

    llm = ExtractiveLLM()
    llm.use_embedder(embedder)  # type: ignore[arg-type]
    ceil = Counter[str]()
    for question, passages, answers, cands, _, _ in rows:
        single = [holds_answer(c.text, answers) for c in cands]
        scores = llm.relevance(question, cands)
        ceil["passages"] += any(holds_answer(p, answers) for p in passages)
        ceil["1 sentence"] += any(single)
        ceil["2 contiguous"] += any(single) or any(
            window(cands, i, 2, answers) for i in range(len(cands))
        )
        ceil["3 contiguous"] += any(single) or any(
            window(cands, i, k, answers) for i in range(len(cands)) for k in (2, 3)
        )
        ceil["scorer's best sentence"] += single[int(np.argmax(scores))]
    print("gold span inside:", {k: round(v / n, 4) for k, v in ceil.items()})

    gold_doc = {i.id: i.doc_ids[0] for i in load_qa(Path(lists.dataset)).items}
    fold = {d: i % 2 for i, d in enumerate(sorted(set(gold_doc.values())))}
    qfold = [fold[gold_doc[qid]] for qid in lists.queries]
    scores_by_q: list[np.ndarray] = [np.empty(0)] * n
    for f in (0, 1):
        train = [row for row, q in zip(rows, qfold, strict=True) if q != f]
        w = fit(np.concatenate([t[4] for t in train]), np.concatenate([t[5] for t in train]))
        for i, (row, q) in enumerate(zip(rows, qfold, strict=True)):
            if q == f:
                scores_by_q[i] = row[4] @ w
    best = [int(np.argmax(s)) for s in scores_by_q]
    print(f"logistic model ({FEATURES} features, 2-fold): best sentence overlaps the gold span "
          f"{np.mean([row[5][b] for row, b in zip(rows, best, strict=True)]):.4f}")  # fmt: skip
    confidence = np.array([s.max() for s in scores_by_q])
    for share in (0.0, 0.1, 0.2, 0.3, 0.4):
        keep = confidence >= np.quantile(confidence, share)
        right = [
            holds_answer(row[1][row[3][b].passage], row[2])
            for row, b in zip(rows, best, strict=True)
        ]
        stray = 1 - np.mean([ok for ok, k in zip(right, keep, strict=True) if k])
        print(f"  declining the {share:.0%} least confident: stray {stray:.4f}")

    cases = [(q, p, a) for q, p, a, *_ in rows]
    print("per-question IDF:", evaluate(llm, cases))
    df: Counter[str] = Counter()
    for text in lists.text.values():
        df.update(set(content_terms(text)))
    total = len(lists.text)
    local = extractive._bm25

    def collection_bm25(
        query: Counter[str], cands: list[Any], k1: float = 1.2, b: float = 0.75
    ) -> tuple[list[float], list[float]]:
        """``extractive._bm25`` with the IDF of the whole collection, not the candidates'."""
        avg = sum(sum(c.terms.values()) for c in cands) / len(cands) or 1.0
        idf = {t: math.log(1 + (total - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
        weight = sum(idf.values()) or 1.0
        scores, coverage = [], []
        for c in cands:
            length = sum(c.terms.values())
            tf = {t: c.terms.get(t, 0) for t in idf}
            scores.append(sum(w * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * length / avg))
                              for t, w in idf.items() if tf[t]))  # fmt: skip
            coverage.append(sum(w for t, w in idf.items() if tf[t]) / weight)
        return scores, coverage

    extractive._bm25 = collection_bm25  # type: ignore[assignment]
    print("collection IDF:", evaluate(llm, cases))
    extractive._bm25 = local  # type: ignore[assignment]
    embedder.save()


if __name__ == "__main__":
    main()
