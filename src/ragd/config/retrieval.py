"""Retrieval: how many results, which mode by default, and how dense and sparse fuse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragd.config.section import Section, env

RetrievalMode = Literal["hybrid", "dense", "sparse", "graph", "hybrid+graph"]
FusionMethod = Literal["rrf", "weighted"]


class RetrievalSettings(Section):
    """What a query retrieves: its default mode and sizes, the relevance floor, and how
    the dense and sparse sides are fused (weighted scores by default, or weighted RRF)."""

    default_mode: RetrievalMode = Field(validation_alias="default_retrieval_strategy")
    max_results: int = Field(validation_alias="max_retrieval_results")
    top_k: int = Field(validation_alias="top_k_retrieval")
    rerank_top_k: int = Field(validation_alias="top_k_rerank")
    similarity_threshold: float
    rrf_k: int
    rrf_dense_weight: float
    rrf_sparse_weight: float
    fusion_candidates: int
    fusion: FusionMethod
    fusion_dense_share: float
    fusion_adaptive: float
    fusion_feedback: int
    fusion_feedback_weight: float
    fusion_feedback_dense_share: float


class RetrievalFields(BaseModel):
    """The environment variables of ``RetrievalSettings``."""

    default_retrieval_strategy: RetrievalMode = Field(
        "hybrid", validation_alias=env("DEFAULT_RETRIEVAL_STRATEGY")
    )
    max_retrieval_results: int = Field(
        100, ge=1, le=1000, validation_alias=env("MAX_RETRIEVAL_RESULTS")
    )
    top_k_retrieval: int = Field(10, ge=1, le=1000, validation_alias=env("TOP_K_RETRIEVAL"))
    top_k_rerank: int = Field(5, ge=1, le=1000, validation_alias=env("TOP_K_RERANK"))
    similarity_threshold: float = Field(0.0, validation_alias=env("SIMILARITY_THRESHOLD"))
    rrf_k: int = Field(10, ge=1, validation_alias=env("RAGD_RRF_K"))
    rrf_dense_weight: float = Field(1.0, ge=0, validation_alias=env("RAGD_RRF_DENSE_WEIGHT"))
    rrf_sparse_weight: float = Field(1.25, ge=0, validation_alias=env("RAGD_RRF_SPARSE_WEIGHT"))
    fusion_candidates: int = Field(
        100, ge=1, le=2000, validation_alias=env("RAGD_FUSION_CANDIDATES", "VECTOR_SEARCH_LIMIT")
    )
    """Hits each side asks of the index (a guide's ``VECTOR_SEARCH_LIMIT``)."""
    fusion: FusionMethod = Field("weighted", validation_alias=env("RAGD_FUSION"))
    """How hybrid search fuses its sides: ``weighted`` (rescaled scores, the two settings
    below) or ``rrf`` (reciprocal ranks, the ``RAGD_RRF_*`` settings)."""
    fusion_dense_share: float = Field(
        0.4, ge=0, le=1, validation_alias=env("RAGD_FUSION_DENSE_SHARE")
    )
    fusion_adaptive: float = Field(0.0, ge=0, le=10, validation_alias=env("RAGD_FUSION_ADAPTIVE"))
    """Per query, each side's share is scaled by its confidence to this power (0: fixed)."""
    fusion_feedback: int = Field(0, ge=0, le=5, validation_alias=env("RAGD_FUSION_FEEDBACK"))
    """Hybrid search: dense pseudo-relevance feedback from this many top documents (0: off).
    Each one's best chunk vector is added to the query vector and hybrid search runs again
    (``services.relevance_feedback``); off by default, see bench/README.md for why."""
    fusion_feedback_weight: float = Field(
        0.5, ge=0, le=10, validation_alias=env("RAGD_FUSION_FEEDBACK_WEIGHT")
    )
    """Weight of each feedback vector against the query vector (both unit length)."""
    fusion_feedback_dense_share: float = Field(
        0.6, ge=0, le=1, validation_alias=env("RAGD_FUSION_FEEDBACK_DENSE_SHARE")
    )
    """Weighted fusion's dense share in the search with the feedback vector."""

    @property
    def retrieval(self) -> RetrievalSettings:
        return RetrievalSettings.of(self)
