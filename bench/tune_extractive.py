"""Tune the extractive answerer on covidqa-dev (never on SciFact, never on held-out data).

    .venv/bin/python bench/tune_extractive.py --lists bench/results/lists-covidqa-dev-qa-*.pkl
        --data-dir DIR [--grid]

Takes the saved candidate lists of ``bench/tune_fusion.py dump``, fuses them with the
configured defaults (``RAGD_FUSION_*``), hands each question's top-5 passages to the
extractive answerer as the answer service would, and scores the answers as
``ragd eval`` does: containment, and the share of answers citing a passage without the
answer, and the answers' mean length in words. Sentence embeddings are cached by text
hash in ``bench/results/`` so a grid embeds each sentence once. ``--timing N`` times the
answer step instead, with the real embedder and no bench cache.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import pickle
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tune_fusion import load_lists

from ragd.adapters.llm import extractive
from ragd.adapters.llm.extractive import ExtractiveLLM
from ragd.config import Settings
from ragd.domain.extract import SelectionPolicy
from ragd.domain.fusion import weighted_fuse
from ragd.domain.qa import holds_answer
from ragd.domain.text import citation_numbers, strip_citations
from ragd.ports.llm import GenerationRequest
from ragd.services.container import build_embedder
from ragd.services.qa_evaluation import load_qa

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "sentence-vectors.pkl"


class CachedEmbedder:
    """The real embedder behind a text-hash cache (bench only)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, np.ndarray] = (
            pickle.loads(CACHE.read_bytes()) if CACHE.exists() else {}
        )
        self.misses = 0

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key("d", t) for t in texts]
        todo = [t for t, k in zip(texts, keys, strict=True) if k not in self.cache]
        if todo:
            self.misses += len(todo)
            for t, v in zip(todo, self.inner.embed_documents(todo), strict=True):
                self.cache[self._key("d", t)] = np.asarray(v, dtype=np.float32)
        return np.stack([self.cache[k] for k in keys])

    def embed_query(self, text: str) -> np.ndarray:
        k = self._key("q", text)
        if k not in self.cache:
            self.cache[k] = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        return self.cache[k]

    def save(self) -> None:
        CACHE.write_bytes(pickle.dumps(self.cache))


def evaluate(
    llm: ExtractiveLLM, cases: list[tuple[str, list[str], tuple[str, ...]]]
) -> dict[str, float]:
    answered = containing = stray = words = 0
    for question, passages, answers in cases:
        text = llm.complete(GenerationRequest([], question, passages)).text
        if text == extractive.NO_ANSWER:
            continue
        answered += 1
        words += len(strip_citations(text).split())
        containing += holds_answer(strip_citations(text), answers)
        cited = set(citation_numbers(text))
        stray += not all(holds_answer(passages[n - 1], answers) for n in cited)
    n = len(cases)
    return {
        "containment": containing / n,
        "answered": answered / n,
        "stray": stray / max(answered, 1),
        "words": words / max(answered, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lists", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--lexical-only", action="store_true")
    ap.add_argument("--max-questions", type=int, default=None)
    ap.add_argument("--shares", type=lambda v: [float(x) for x in v.split(",")], default=[0.5])
    ap.add_argument(
        "--timing",
        type=int,
        default=0,
        metavar="N",
        help="time N questions (spread over the set) through the real embedder, no bench "
        "cache: the answer step alone, with its own sentence-vector cache off, then on",
    )
    args = ap.parse_args()
    lists = load_lists(args.lists)
    settings = Settings(data_dir=args.data_dir)  # type: ignore[call-arg]
    r = settings.retrieval
    questions = _questions(lists)
    cases = []
    for qid, (dense, sparse) in lists.queries.items():
        fused = weighted_fuse(
            dense,
            sparse,
            dense_weight=r.fusion_dense_share,
            adaptive=r.fusion_adaptive,
            limit=args.passages,
        )
        cases.append(
            (questions[qid], [lists.text[h.chunk_id] for h in fused], tuple(lists.qrels[qid]))
        )
    cases = cases[: args.max_questions]
    recall = sum(any(holds_answer(p, a) for p in ps) for _, ps, a in cases) / len(cases)
    print(f"{len(cases)} questions; answer in the top-{args.passages} passages: {recall:.4f}")
    if args.timing:
        timing(build_embedder(settings), cases, args.timing)
        return
    embedder = CachedEmbedder(build_embedder(settings))
    grid: list[tuple[float, SelectionPolicy]] = [(extractive.LEXICAL_SHARE, extractive.POLICY)]
    if args.grid:
        grid = [
            (
                share,
                SelectionPolicy(
                    floor=f, cliff=0.85, neighbour=nb, other=o, max_sentences=5, max_words=w
                ),
            )
            for share, f, nb, o, w in itertools.product(
                args.shares, (0.3, 0.45), (0.0, 0.01, 0.05, 0.1, 0.2), (0.98, 1.01), (70, 80, 100)
            )
        ]
    print(
        f"{'share':>5} {'floor':>5} {'cliff':>5} {'neigh':>5} {'other':>5} "
        f"{'max':>3} {'words':>5} {'contain':>8} {'answered':>8} {'stray':>6} {'words':>6}"
    )
    for share, policy in grid:
        llm = ExtractiveLLM(policy, share)
        if not args.lexical_only:
            llm.use_embedder(embedder)  # type: ignore[arg-type]
        m = evaluate(llm, cases)
        print(
            f"{share:>5} {policy.floor:>5} {policy.cliff:>5} {policy.neighbour:>5} "
            f"{policy.other:>5} {policy.max_sentences:>3} {policy.max_words:>5} "
            f"{m['containment']:>8.4f} {m['answered']:>8.4f} {m['stray']:>6.4f} "
            f"{m['words']:>6.1f}",
            flush=True,
        )
        if embedder.misses:
            embedder.save()
            embedder.misses = 0


def timing(embedder: Any, cases: list[tuple[str, list[str], tuple[str, ...]]], n: int) -> None:
    """p50/p95 of ``ExtractiveLLM.complete`` on ``n`` questions, single-threaded."""
    embedder.embed_query("warm up")  # model load is not what we measure
    picked = cases[:: max(1, len(cases) // n)][:n]
    for capacity in (0, None):
        llm = ExtractiveLLM() if capacity is None else ExtractiveLLM(cache_size=capacity)
        llm.use_embedder(embedder)
        ms = []
        for question, passages, _ in picked:
            t0 = time.perf_counter()
            llm.complete(GenerationRequest([], question, passages))
            ms.append((time.perf_counter() - t0) * 1e3)
        ms.sort()
        label = "cache off" if capacity == 0 else "cache on"
        print(
            f"{label}: {len(ms)} answers, p50 {statistics.median(ms):.1f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, mean {statistics.mean(ms):.1f} ms"
        )


def _questions(lists: Any) -> dict[str, str]:
    qa = load_qa(Path(lists.dataset))
    return {i.id: i.question for i in qa.items}


if __name__ == "__main__":
    main()
