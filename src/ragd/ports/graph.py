"""GraphStore port: the tenant's knowledge graph (entities, relations, and the chunks that
state them), and EntityExtractor, what turns a chunk into entities and relations.

The graph is derived from chunks, like the Index: ``ragd graph build`` rebuilds what is
missing or stale at any time. Writes go through the Store's transaction (``tx``), so a
document's chunks and its graph contribution change together: ``remove_document`` runs in
the transaction that deletes or replaces the document, and a stale ``write_document``
(the document changed meanwhile) writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ragd.domain.graph import (
    ChunkExtraction,
    EntityMatch,
    Extraction,
    GraphStats,
    Neighbourhood,
)
from ragd.domain.graph_visible import ChunkVisibility
from ragd.domain.models import TenantId, Usage, Vector
from ragd.ports.store import Transaction


class GraphStore(Protocol):
    """Tenant-scoped graph persistence and bounded traversal.

    Every method is scoped to its tenant: no read ever returns another tenant's entity,
    relation or chunk id. Raises ``BackendUnavailable`` when the backend cannot be reached,
    ``InvalidRequest`` for out-of-range bounds.
    """

    name: str

    def write_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        version: int,
        chunks: Sequence[ChunkExtraction],
    ) -> bool:
        """Replace the document's contribution with these extractions and record it built
        at ``version``. Idempotent. Writes nothing and returns False when the document is
        gone, not indexed, or at another version (it changed while being extracted)."""
        ...

    def remove_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        """Remove every link of the document, and every entity, alias and relation that
        only its links supported. No error when it has none."""
        ...

    def pending_documents(self, limit: int) -> list[tuple[TenantId, str, int]]:
        """``(tenant, document id, version)`` of indexed documents, any tenant, whose graph
        is missing or older than the document (oldest first): the build stage's work."""
        ...

    def match_entities(
        self, tenant: TenantId, keys: Sequence[str], *, limit: int
    ) -> list[EntityMatch]:
        """Entities whose key or an alias key is among ``keys`` (normalised names), score
        1.0, most-mentioned first."""
        ...

    def entity_vectors(self, tenant: TenantId, *, limit: int) -> tuple[list[EntityMatch], Vector]:
        """The ``limit`` most-mentioned entities that have a name vector, and those vectors
        as rows of one matrix (for matching a question's names by embedding)."""
        ...

    def entities_without_vector(self, tenant: TenantId, *, limit: int) -> list[tuple[str, str]]:
        """``(entity id, name)`` of entities whose name is not embedded yet."""
        ...

    def set_entity_vectors(self, tenant: TenantId, vectors: Mapping[str, Vector]) -> None: ...

    def neighbourhood(
        self,
        tenant: TenantId,
        seeds: Sequence[EntityMatch],
        *,
        hops: int,
        max_edges: int,
        max_chunks: int,
        visible: ChunkVisibility | None = None,
    ) -> Neighbourhood:
        """Chunks that mention a seed (hop 0) or state a relation within ``hops`` (1 or 2)
        of one, best first. At most ``max_edges`` relations are walked per hop (the
        best-supported first) and ``max_chunks`` chunks returned. With ``visible``, the
        walk sees only the chunks it lets through (``ragd.domain.graph_visible``)."""
        ...

    def stats(self, tenant: TenantId) -> GraphStats: ...

    def version(self, tenant: TenantId) -> str:
        """Changes whenever the tenant's graph does (a cache key for entity vectors)."""
        ...

    def cached_extractions(self, tenant: TenantId, keys: Sequence[str]) -> dict[str, Extraction]:
        """Extractions stored under these keys (a chunk-text hash with the extractor's id)."""
        ...

    def cache_extractions(self, tenant: TenantId, items: Mapping[str, Extraction]) -> None: ...

    def erase_tenant(self, tenant: TenantId) -> int:
        """Remove every graph row of the tenant, the extraction cache included (GDPR
        erasure, after its documents are deleted); returns the rows removed."""
        ...


@runtime_checkable
class GraphSync(Protocol):
    """A graph that lives outside the Store (Neo4j) and is kept in step through an outbox;
    ``drain`` applies pending rows, ``reconcile`` compares and repairs."""

    def drain(self, *, max_seconds: float | None = None) -> int: ...

    def backlog(self) -> int: ...

    def reconcile(self, *, repair: bool) -> dict[str, int]: ...


class EntityExtractor(Protocol):
    """Entities and relations of chunk texts (rules, or an LLM).

    Raises ``BackendUnavailable`` (retryable) when a remote model fails; never returns
    another chunk's entities for a text."""

    @property
    def id(self) -> str:
        """Names the extractor and its version: part of the cache key of every result."""
        ...

    def extract(self, texts: Sequence[str]) -> tuple[list[Extraction], Usage]:
        """One ``Extraction`` per text, in order, and the model tokens spent (zero for
        rules)."""
        ...
