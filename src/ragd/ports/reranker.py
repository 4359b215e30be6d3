"""Reranker port: (query, passages) → relevance scores, for a second, finer ordering of
the top ``TOP_K_RETRIEVAL`` hits down to ``TOP_K_RERANK``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Reranker(Protocol):
    """Adapters translate provider failures into ``BackendUnavailable`` (retryable) or
    ``ConfigError``; the answer path then keeps the retrieval order instead of failing."""

    @property
    def model(self) -> str: ...

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One score per passage, in the passages' order; higher is more relevant."""
        ...
