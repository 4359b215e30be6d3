"""Pure domain logic: fusion, filters, metrics, settings validation."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from ragd.config import Settings
from ragd.domain.filters import SearchFilters
from ragd.domain.fusion import rrf_fuse
from ragd.domain.metrics import evaluate_run, mrr_at_k, ndcg_at_k, recall_at_k
from ragd.domain.models import ScoredChunk
from ragd.errors import InvalidRequest


def _ranked(*ids: str) -> list[ScoredChunk]:
    return [ScoredChunk(i, 1.0 / (n + 1)) for n, i in enumerate(ids)]


def test_rrf_rewards_agreement_and_keeps_ranks() -> None:
    fused = rrf_fuse(_ranked("a", "b", "c"), _ranked("c", "a", "d"), k=60, limit=10)
    assert [h.chunk_id for h in fused] == ["a", "c", "b", "d"]
    a = fused[0]
    assert math.isclose(a.score, 1 / 61 + 1 / 62) and (a.dense_rank, a.sparse_rank) == (1, 2)
    assert fused[-1].dense_rank is None and fused[-1].sparse_rank == 3


def test_rrf_weights_and_limit() -> None:
    fused = rrf_fuse(_ranked("a", "b"), _ranked("b", "a"), k=1, dense_weight=0.0, limit=1)
    assert [h.chunk_id for h in fused] == ["b"]
    tie = rrf_fuse(_ranked("z"), _ranked("y"), k=60, limit=5)
    assert [h.chunk_id for h in tie] == ["y", "z"]  # equal scores: broken by id, deterministic


def test_filters_validate_user_input() -> None:
    f = SearchFilters.from_mapping(
        {"document_id": "d1", "sources": ["a", "b"], "metadata": {"lang": "en", "n": 3}}
    )
    assert f == SearchFilters(("d1",), ("a", "b"), {"lang": "en", "n": 3}) and not f.empty
    assert SearchFilters.from_mapping(None).empty
    for bad in (
        {"colour": "red"},
        {"document_ids": [1, 2]},
        {"metadata": ["x"]},
        {"metadata": {"a b": 1}},
        {"metadata": {"k": {"nested": 1}}},
        {"sources": [""]},
        {"document_ids": ["x"] * 1001},
    ):
        with pytest.raises(InvalidRequest):
            SearchFilters.from_mapping(bad)


def test_metrics_match_hand_computed_values() -> None:
    rel = {"d1": 1, "d3": 1}
    ranked = ["d2", "d1", "d4", "d3"]
    expected_ndcg = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert math.isclose(ndcg_at_k(ranked, rel, 10), expected_ndcg)
    assert recall_at_k(ranked, rel, 2) == 0.5 and recall_at_k(ranked, rel, 100) == 1.0
    assert mrr_at_k(ranked, rel, 10) == 0.5 and mrr_at_k(["x"], rel, 10) == 0.0
    assert ndcg_at_k(["d1", "d3"], rel, 10) == 1.0
    scores = evaluate_run({"q1": ranked}, {"q1": rel, "q2": {"d9": 1}})
    assert math.isclose(scores["mrr@10"], 0.25)  # q2 has no run: scores 0, still counted


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValidationError):
        Settings(chunk_tokens=64, chunk_overlap=64)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(default_retrieval_strategy="semantic")  # type: ignore[call-arg]
    s = Settings(data_dir="/tmp/x")  # type: ignore[call-arg]
    assert s.sqlalchemy_url == "sqlite:////tmp/x/ragd.db"


def test_settings_read_design_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_BATCH_SIZE", "4")
    monkeypatch.setenv("DEFAULT_RETRIEVAL_STRATEGY", "sparse")
    monkeypatch.setenv("RAGD_DATA_DIR", "/tmp/elsewhere")
    s = Settings()  # type: ignore[call-arg]
    assert (s.embedding_batch_size, s.default_retrieval_strategy, str(s.data_dir)) == (
        4,
        "sparse",
        "/tmp/elsewhere",
    )
