"""Index port: dense + sparse search over chunks, scoped to a tenant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId, Vector
from ragd.ports.store import Transaction

IndexMode = Literal["hybrid", "dense", "sparse"]
"""What an Index searches by."""
Mode = Literal["hybrid", "dense", "sparse", "graph", "hybrid+graph"]
"""A search's retrieval mode: an Index mode, or one through the knowledge graph
(``ragd.services.graph_search``), which the search service resolves."""
Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class IndexQuery:
    text: str
    vector: Vector | None
    mode: IndexMode = "hybrid"
    k: int = 10
    filters: SearchFilters = field(default_factory=SearchFilters)
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    candidates: int = 100
    """How many results each side contributes to hybrid fusion."""
    fusion: Fusion = "rrf"
    """``rrf``: weighted reciprocal rank (``rrf_k``, ``dense_weight``, ``sparse_weight``);
    ``weighted``: weighted sum of each side's scores rescaled over its candidates
    (``dense_share``, ``adaptive``), see ``domain.fusion.weighted_fuse``."""
    dense_share: float = 0.5
    """Weighted fusion: the dense side's share of the score (0..1)."""
    adaptive: float = 0.0
    """Weighted fusion: how strongly each side's per-query confidence scales its share."""


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
        better), hybrid scores the fused value (``query.fusion``), equal to
        ``index.fusion.fuse_hybrid`` of the index's own dense and sparse lists."""
        ...

    def count(self, tenant: TenantId) -> int: ...

    def version(self, tenant: TenantId) -> int | str:
        """An opaque token that changes with every committed write to the tenant's index
        rows (and with a rebuild); equal tokens mean equal search results. The answer
        cache keys on it, so no process ever serves an answer from before a change."""
        ...


# ------------------------------------------------------------------------------------
# Capabilities of an index that lives outside the Store (Qdrant). Services test for them
# with ``isinstance``; the SQLite and pgvector indexes, which commit in the Store's own
# transaction, need none of them.


class IndexBuild(Protocol):
    """A new generation of the index, filled beside the live one (zero-downtime reindex)."""

    def add(self, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]) -> None:
        """Write one document's entries into the new generation (not searchable yet)."""
        ...

    def publish(self, refresh: Callable[[TenantId, str], Sequence[IndexEntry] | None]) -> None:
        """Catch up with every write made since the build started, then make the new
        generation the live one atomically. ``refresh`` gives a document's current
        entries from the Store (None: it no longer exists), for writes that cannot be
        replayed as they are (another embedding model)."""
        ...

    def abandon(self) -> None:
        """Drop the new generation; the live one is untouched."""
        ...


@runtime_checkable
class StagedRebuild(Protocol):
    """An index that can be rebuilt beside the live one and swapped in atomically."""

    def start_build(self) -> IndexBuild: ...


@runtime_checkable
class IndexMaintenance(Protocol):
    """Background upkeep an index wants from the workers (pgvector: per-tenant graphs)."""

    def maintain(self) -> str | None:
        """Do one unit of upkeep; returns what it was about (a tenant), None when idle."""
        ...


@runtime_checkable
class IndexInventory(Protocol):
    """What an external index holds, for ``ragd reconcile``."""

    def chunk_ids(self) -> dict[TenantId, dict[str, str]]:
        """Every entry: tenant → chunk id → document id."""
        ...

    def document_chunk_ids(self, tenant: TenantId, document_id: str) -> set[str]: ...

    def remove_chunks(self, tenant: TenantId, chunk_ids: Sequence[str]) -> int:
        """Delete these entries now (orphans: the Store has no such chunk)."""
        ...


@runtime_checkable
class VectorSource(Protocol):
    """An index that can hand back the vectors it stores, so a reindex into another
    backend need not embed every chunk again."""

    def stored_vectors(self, tenant: TenantId, chunk_ids: Sequence[str]) -> dict[str, Vector]:
        """Vectors of those chunks it holds (others are simply absent)."""
        ...
