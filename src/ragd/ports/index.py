"""Index port: dense + sparse search over chunks, scoped to a tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId, Vector
from ragd.ports.store import Transaction

Mode = Literal["hybrid", "dense", "sparse"]


@dataclass(frozen=True)
class IndexQuery:
    text: str
    vector: Vector | None
    mode: Mode = "hybrid"
    k: int = 10
    filters: SearchFilters = field(default_factory=SearchFilters)
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    candidates: int = 100
    """How many results each side contributes to hybrid fusion."""


class Index(Protocol):
    """Search structures derived from the Store; always rebuildable by ``ragd reindex``.

    ``upsert_document``/``delete_document`` run inside the Store transaction that changes
    the chunks, so a replaced or deleted document is never searchable in a stale form.
    Raises ``IndexMismatch`` when opened with an embedding spec other than the one it was
    built with, ``InvalidRequest`` for a vector of the wrong dimension.
    """

    @property
    def spec(self) -> EmbeddingSpec: ...

    def ensure_ready(self) -> None:
        """Create the structures for ``spec`` if absent; refuse a different stored spec."""
        ...

    def stored_spec(self) -> EmbeddingSpec | None: ...

    def rebuild(self) -> None:
        """Drop every entry and recreate empty structures for ``spec`` (reindex)."""
        ...

    def upsert_document(
        self, tx: Transaction, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]
    ) -> None: ...

    def delete_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None: ...

    def search(self, tenant: TenantId, query: IndexQuery) -> list[ScoredChunk]:
        """Best first. Dense scores are cosine similarity, sparse scores BM25 (higher is
        better), hybrid scores the fused RRF value."""
        ...

    def count(self, tenant: TenantId) -> int: ...

    def version(self, tenant: TenantId) -> int | str:
        """An opaque token that changes with every committed write to the tenant's index
        rows (and with a rebuild); equal tokens mean equal search results. The answer
        cache keys on it, so no process ever serves an answer from before a change."""
        ...
