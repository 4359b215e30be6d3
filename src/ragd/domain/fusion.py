"""Reciprocal-rank fusion of dense and sparse result lists.

RRF needs no score calibration between cosine similarities and BM25, which have different
scales per query; only ranks matter. Weights let a deployment lean on one side; both the
constant ``k`` and the weights were tuned on SciFact's *train* qrels (see bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragd.domain.models import ScoredChunk


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
