"""GraphStore with Neo4j for traversal: writes, the build's reads and entity matching on
the Store's tables (``SqlGraphStore``, which also appends every document change to
``graph_outbox``), the neighbourhood walk in Cypher on the replica.

A replica behind its outbox may lag: a chunk it still names but the Store no longer has is
dropped when the search hydrates hits from the Store, and a chunk it does not know yet is
simply not reached until ``ragd graph sync`` (or the worker) applies the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ragd.adapters.graph.neo4j import cypher as q
from ragd.adapters.graph.neo4j.cypher import CypherRunner
from ragd.adapters.graph.sql import SqlGraphStore
from ragd.domain.graph import (
    ChunkExtraction,
    EntityMatch,
    Extraction,
    GraphStats,
    Neighbourhood,
    check_walk_bounds,
)
from ragd.domain.graph_visible import ChunkVisibility, seen_by
from ragd.domain.graph_walk import Edge, walk
from ragd.domain.models import TenantId, Vector
from ragd.ports.store import Transaction


def _ids(values: Sequence[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


class CypherReads:
    """The walk's four reads (``GraphReads``) as Cypher, in one tenant."""

    def __init__(self, runner: CypherRunner, tenant: TenantId) -> None:
        self.runner = runner
        self.tenant = tenant

    def _rows(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.runner.run([(query, {"t": self.tenant, **params})], write=False)[0]

    def mentions(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        rows = self._rows(q.MENTIONS, ids=_ids(entity_ids), n=per_entity)
        return [(str(e), str(c)) for e, c in rows]

    def edges(self, entity_ids: Sequence[str], limit: int) -> list[Edge]:
        rows = self._rows(q.EDGES, ids=_ids(entity_ids), n=limit)
        return [Edge(str(f), str(s), str(g), str(k)) for f, s, g, k in rows]

    def chunks_of(self, relation_ids: Sequence[str], per_relation: int) -> list[tuple[str, str]]:
        rows = self._rows(q.FACT_CHUNKS, ids=_ids(relation_ids), n=per_relation)
        return [(str(f), str(c)) for f, c in rows]

    def names(self, entity_ids: Sequence[str]) -> dict[str, str]:
        return {str(e): str(n) for e, n in self._rows(q.NAMES, ids=_ids(entity_ids))}

    def degrees(self, entity_ids: Sequence[str]) -> dict[str, int]:
        return {str(e): int(n) for e, n in self._rows(q.DEGREES, ids=_ids(entity_ids))}


class Neo4jGraphStore:
    """GraphStore port: the Store's tables as the truth, Neo4j for the walk."""

    name = "neo4j"

    def __init__(self, sql: SqlGraphStore, runner: CypherRunner) -> None:
        if not sql.outbox:
            raise ValueError("the Store side must write the graph outbox")
        self.sql = sql
        self.runner = runner

    def write_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        version: int,
        chunks: Sequence[ChunkExtraction],
    ) -> bool:
        return self.sql.write_document(tx, tenant, document_id, version, chunks)

    def remove_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        self.sql.remove_document(tx, tenant, document_id)

    def pending_documents(self, limit: int) -> list[tuple[TenantId, str, int]]:
        return self.sql.pending_documents(limit)

    def match_entities(
        self, tenant: TenantId, keys: Sequence[str], *, limit: int
    ) -> list[EntityMatch]:
        return self.sql.match_entities(tenant, keys, limit=limit)

    def entity_vectors(self, tenant: TenantId, *, limit: int) -> tuple[list[EntityMatch], Vector]:
        return self.sql.entity_vectors(tenant, limit=limit)

    def entities_without_vector(self, tenant: TenantId, *, limit: int) -> list[tuple[str, str]]:
        return self.sql.entities_without_vector(tenant, limit=limit)

    def set_entity_vectors(self, tenant: TenantId, vectors: Mapping[str, Vector]) -> None:
        self.sql.set_entity_vectors(tenant, vectors)

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
        check_walk_bounds(hops, max_edges, max_chunks)
        if not seeds:
            return Neighbourhood()
        return walk(
            seen_by(CypherReads(self.runner, tenant), visible),
            seeds,
            hops=hops,
            max_edges=max_edges,
            max_chunks=max_chunks,
        )

    def stats(self, tenant: TenantId) -> GraphStats:
        return self.sql.stats(tenant)

    def version(self, tenant: TenantId) -> str:
        return self.sql.version(tenant)

    def cached_extractions(self, tenant: TenantId, keys: Sequence[str]) -> dict[str, Extraction]:
        return self.sql.cached_extractions(tenant, keys)

    def cache_extractions(self, tenant: TenantId, items: Mapping[str, Extraction]) -> None:
        self.sql.cache_extractions(tenant, items)

    def erase_tenant(self, tenant: TenantId) -> int:
        for label in ("Chunk", "Fact", "Entity"):
            self.runner.run(
                [(f"MATCH (n:{label} {{tenant: $t}}) DETACH DELETE n", {"t": tenant})], write=True
            )
        return self.sql.erase_tenant(tenant)
