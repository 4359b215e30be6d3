"""Fusion of dense and sparse result lists, and the query vector of dense feedback.

RRF needs no score calibration between cosine similarities and BM25, which have different
scales per query; only ranks matter. Weights let a deployment lean on one side; both the
constant ``k`` and the weights were tuned on SciFact's *train* qrels (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragd.domain.models import ScoredChunk, Vector


def rrf_fuse(
    dense: Sequence[ScoredChunk],
    sparse: Sequence[ScoredChunk],
    *,
    k: int = 60,
    dense_weight: float = 1.0,
    sparse_weight: float = 1.0,
    limit: int,
) -> list[ScoredChunk]:
    """Fuse two ranked lists (best first) into one, best first; ties broken by chunk id.

    Each fused chunk keeps its cosine similarity from the dense list (a dense list's score
    is the cosine, per the Index port), so the answer path can apply its threshold."""
    scores: dict[str, float] = {}
    dense_rank: dict[str, int] = {}
    sparse_rank: dict[str, int] = {}
    similarity: dict[str, float] = {}
    for rank, hit in enumerate(dense, start=1):
        scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + dense_weight / (k + rank)
        dense_rank[hit.chunk_id] = rank
        similarity[hit.chunk_id] = hit.similarity if hit.similarity is not None else hit.score
    for rank, hit in enumerate(sparse, start=1):
        scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + sparse_weight / (k + rank)
        sparse_rank[hit.chunk_id] = rank
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        ScoredChunk(
            cid,
            score,
            dense_rank=dense_rank.get(cid),
            sparse_rank=sparse_rank.get(cid),
            similarity=similarity.get(cid),
        )
        for cid, score in ordered
    ]


RESCALE_DEPTH = 100
"""Weighted fusion rescales each side over at most its top 100 (fewer when fewer
candidates were asked for), whatever ``k`` is: a caller asking for 200 hits gets the same
order of the first ones as one asking for 10. Tuned with: bench/tune_fusion.py."""


def rescale(hits: Sequence[ScoredChunk], depth: int) -> dict[str, float]:
    """Each of the top ``depth`` hits' score mapped to 0..1 (min-max over those hits).

    Cosine similarities and BM25 scores live on unrelated scales, and BM25's changes from
    query to query; over a side's own top list both become "how close to this side's best"
    (its best 1, its ``depth``-th 0). A side whose scores are all equal gives all 1."""
    top = hits[:depth]
    if not top:
        return {}
    high, low = top[0].score, top[-1].score
    for h in top:
        high, low = max(high, h.score), min(low, h.score)
    span = high - low
    return {h.chunk_id: (h.score - low) / span if span > 0 else 1.0 for h in top}


def confidence(scaled: Sequence[float], head: int) -> float:
    """How sharply a side separates its best hits from the rest, in 0..1: one minus the
    mean rescaled score of its top ``head`` after the first.

    A side that recognises the query puts a few hits far above its tail (low mean); a side
    that does not (a dense model on a specialist question, BM25 on a paraphrase) ranks a
    flat list whose head is barely above its ``depth``-th hit (mean near 1)."""
    rest = scaled[1 : head + 1]
    if not rest:
        return 1.0
    return max(0.0, 1.0 - sum(rest) / len(rest))


def weighted_fuse(
    dense: Sequence[ScoredChunk],
    sparse: Sequence[ScoredChunk],
    *,
    dense_weight: float = 0.5,
    depth: int = 100,
    adaptive: float = 0.0,
    head: int = 10,
    limit: int,
) -> list[ScoredChunk]:
    """Weighted sum of each side's rescaled scores (``rescale``), best first, ties by id.

    ``dense_weight`` (0..1) is the dense side's share; the sparse side gets the rest. With
    ``adaptive`` > 0 each side's share is multiplied, per query, by its ``confidence`` to
    the power ``adaptive`` (then renormalised), so a side that ranks one query poorly
    loses say on that query only: the fused list then follows the better side instead of
    averaging it with noise. A chunk a side did not return scores 0 on that side.
    Each fused chunk keeps its cosine similarity from the dense list."""
    d_scaled = rescale(dense, depth)
    s_scaled = rescale(sparse, depth)
    wd, ws = dense_weight, 1.0 - dense_weight
    if adaptive > 0 and d_scaled and s_scaled:
        cd = confidence(list(d_scaled.values()), head) ** adaptive
        cs = confidence(list(s_scaled.values()), head) ** adaptive
        if wd * cd + ws * cs > 0:
            wd, ws = wd * cd / (wd * cd + ws * cs), ws * cs / (wd * cd + ws * cs)
    scores: dict[str, float] = {}
    for cid, v in d_scaled.items():
        scores[cid] = wd * v
    for cid, v in s_scaled.items():
        scores[cid] = scores.get(cid, 0.0) + ws * v
    dense_rank = {h.chunk_id: r for r, h in enumerate(dense[:depth], start=1)}
    sparse_rank = {h.chunk_id: r for r, h in enumerate(sparse[:depth], start=1)}
    similarity = {
        h.chunk_id: h.similarity if h.similarity is not None else h.score for h in dense[:depth]
    }
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        ScoredChunk(
            cid,
            score,
            dense_rank=dense_rank.get(cid),
            sparse_rank=sparse_rank.get(cid),
            similarity=similarity.get(cid),
        )
        for cid, score in ordered
    ]


def feedback_vector(query: Vector, feedback: Sequence[Vector], weight: float) -> Vector:
    """The query vector moved toward its best hits (dense pseudo-relevance feedback).

    Unit query plus ``weight`` times each feedback vector made unit: cosine ranking only
    sees the direction, and unit parts keep a long query or an unnormalised stored vector
    from outweighing the others. The hits a first search ranks best usually share the
    query's topic in the model's own terms, so a second dense search with this vector
    finds their neighbours that the short query alone scored low. Zero vectors are
    skipped (no direction to add)."""
    out = np.asarray(query, dtype=np.float64).copy()
    norm = float(np.linalg.norm(out))
    if norm > 0:
        out /= norm
    for vec in feedback:
        v = np.asarray(vec, dtype=np.float64)
        n = float(np.linalg.norm(v))
        if n > 0:
            out += weight * v / n
    return out.astype(np.float32)
