"""Weighted score fusion (``domain.fusion.weighted_fuse``): rescaling, shares, the
per-query confidence, and what every index must reproduce."""

from __future__ import annotations

import pytest

from ragd.domain.fusion import confidence, rescale, weighted_fuse
from ragd.domain.models import ScoredChunk


def side(*pairs: tuple[str, float]) -> list[ScoredChunk]:
    return [ScoredChunk(cid, score) for cid, score in pairs]


def test_rescale_maps_each_side_to_zero_one_over_its_own_top() -> None:
    scaled = rescale(side(("a", 12.0), ("b", 7.0), ("c", 2.0), ("d", 1.0)), depth=3)
    assert scaled == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert rescale(side(("a", 0.3), ("b", 0.3)), depth=10) == {"a": 1.0, "b": 1.0}
    assert rescale([], depth=10) == {}


def test_weighted_sum_of_rescaled_scores_with_ties_by_id() -> None:
    dense = side(("a", 0.9), ("b", 0.5), ("c", 0.1))
    sparse = side(("c", 30.0), ("b", 20.0), ("x", 10.0))
    fused = weighted_fuse(dense, sparse, dense_weight=0.5, limit=10)
    scores = {h.chunk_id: h.score for h in fused}
    assert scores == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.5, "x": 0.0})
    assert [h.chunk_id for h in fused] == ["a", "b", "c", "x"]
    assert fused[0].dense_rank == 1 and fused[0].sparse_rank is None
    assert fused[2].similarity == pytest.approx(0.1)  # the dense cosine travels along


def test_shares_decide_between_the_sides() -> None:
    dense = side(("d", 0.9), ("s", 0.1))
    sparse = side(("s", 9.0), ("d", 1.0))
    assert weighted_fuse(dense, sparse, dense_weight=0.7, limit=1)[0].chunk_id == "d"
    assert weighted_fuse(dense, sparse, dense_weight=0.3, limit=1)[0].chunk_id == "s"
    only_sparse = weighted_fuse([], sparse, dense_weight=0.9, limit=2)
    assert [h.chunk_id for h in only_sparse] == ["s", "d"]


def test_confidence_is_high_for_a_peaked_side_and_low_for_a_flat_one() -> None:
    assert confidence([1.0, 0.1, 0.05, 0.0], head=3) > 0.9
    assert confidence([1.0, 0.98, 0.97, 0.95], head=3) < 0.1
    assert confidence([1.0], head=3) == 1.0


def test_adaptive_fusion_follows_the_side_that_separates_its_hits() -> None:
    # Dense is flat (no idea), sparse is sure: with adaptive weighting sparse's winner
    # wins even though dense has the larger fixed share.
    dense = side(*((f"d{i}", 0.50 - i * 0.001) for i in range(20)), ("s0", 0.40))
    sparse = side(("s0", 20.0), *((f"x{i}", 2.0 - i * 0.01) for i in range(20)))
    fixed = weighted_fuse(dense, sparse, dense_weight=0.6, limit=1)
    adaptive = weighted_fuse(dense, sparse, dense_weight=0.6, adaptive=2.0, limit=1)
    assert fixed[0].chunk_id == "d0"
    assert adaptive[0].chunk_id == "s0"


def test_many_candidates_stay_fast_and_bounded() -> None:
    dense = side(*((f"c{i}", 1.0 - i / 5000) for i in range(4096)))
    sparse = side(*((f"c{4095 - i}", 50.0 - i / 100) for i in range(4096)))
    fused = weighted_fuse(dense, sparse, dense_weight=0.4, depth=4096, adaptive=1.0, limit=10)
    assert len(fused) == 10
