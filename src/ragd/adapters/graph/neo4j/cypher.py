"""The Cypher the Neo4j adapter runs, and how it is run (``CypherRunner``).

The graph in Neo4j: ``(:Entity {tenant, id, key, name})``, ``(:Chunk {tenant, id,
document_id})``, ``(:Fact {tenant, id, kind})`` for a relation, and the edges
``(Entity)-[:MENTIONED_IN]->(Chunk)``, ``(Entity)-[:SOURCE]->(Fact)-[:TARGET]->(Entity)``,
``(Fact)-[:STATED_IN]->(Chunk)``. A relation is a node so that the chunks stating it can be
linked (and removed document by document). Ids are the Store's; every pattern names the
tenant on every node it matches, so no statement can reach another tenant's nodes.

Every statement returns scalar columns only, so any Cypher server's row format reads the
same. ``BoltRunner`` runs them through the official ``neo4j`` driver, one managed
transaction per batch (retried by the driver on transient errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ragd.errors import BackendUnavailable, ConfigError

Statement = tuple[str, Mapping[str, Any]]

SCHEMA = [
    "CREATE INDEX ragd_entity IF NOT EXISTS FOR (n:Entity) ON (n.tenant, n.id)",
    "CREATE INDEX ragd_chunk IF NOT EXISTS FOR (n:Chunk) ON (n.tenant, n.id)",
    "CREATE INDEX ragd_chunk_document IF NOT EXISTS FOR (n:Chunk) ON (n.tenant, n.document_id)",
    "CREATE INDEX ragd_fact IF NOT EXISTS FOR (n:Fact) ON (n.tenant, n.id)",
]

# -- a document's contribution ------------------------------------------------------------

DOCUMENT_ENTITIES = (
    "MATCH (c:Chunk {tenant: $t, document_id: $d})<-[:MENTIONED_IN]-(e:Entity {tenant: $t}) "
    "RETURN DISTINCT e.id"
)
DOCUMENT_FACTS = (
    "MATCH (c:Chunk {tenant: $t, document_id: $d})<-[:STATED_IN]-(f:Fact {tenant: $t}) "
    "RETURN DISTINCT f.id"
)
DELETE_CHUNKS = "MATCH (c:Chunk {tenant: $t, document_id: $d}) DETACH DELETE c"
DELETE_ORPHAN_FACTS = (
    "UNWIND $ids AS i MATCH (f:Fact {tenant: $t, id: i}) "
    "WHERE NOT (f)-[:STATED_IN]->(:Chunk) DETACH DELETE f"
)
DELETE_ORPHAN_ENTITIES = (
    "UNWIND $ids AS i MATCH (e:Entity {tenant: $t, id: i}) "
    "WHERE NOT (e)-[:MENTIONED_IN]->(:Chunk) DETACH DELETE e"
)
MERGE_ENTITIES = (
    "UNWIND $rows AS r MERGE (e:Entity {tenant: $t, id: r[0]}) SET e.key = r[1], e.name = r[2]"
)
MERGE_CHUNKS = "UNWIND $ids AS i MERGE (c:Chunk {tenant: $t, id: i}) SET c.document_id = $d"
MERGE_MENTIONS = (
    "UNWIND $rows AS r MATCH (e:Entity {tenant: $t, id: r[0]}), (c:Chunk {tenant: $t, id: r[1]}) "
    "MERGE (e)-[:MENTIONED_IN]->(c)"
)
MERGE_FACTS = (
    "UNWIND $rows AS r MATCH (s:Entity {tenant: $t, id: r[1]}), (g:Entity {tenant: $t, id: r[2]}) "
    "MERGE (f:Fact {tenant: $t, id: r[0]}) SET f.kind = r[3] "
    "MERGE (s)-[:SOURCE]->(f) MERGE (f)-[:TARGET]->(g)"
)
MERGE_STATED = (
    "UNWIND $rows AS r MATCH (f:Fact {tenant: $t, id: r[0]}), (c:Chunk {tenant: $t, id: r[1]}) "
    "MERGE (f)-[:STATED_IN]->(c)"
)

# -- the walk's reads (ragd.domain.graph_walk.GraphReads) ---------------------------------

MENTIONS = (
    "UNWIND $ids AS i MATCH (e:Entity {tenant: $t, id: i})-[:MENTIONED_IN]->(c:Chunk {tenant: $t}) "
    "WITH e, c ORDER BY c.id WITH e, collect(c.id)[..$n] AS cs UNWIND cs AS cid "
    "RETURN e.id, cid"
)
EDGES = (
    "MATCH (s:Entity {tenant: $t})-[:SOURCE]->(f:Fact {tenant: $t})-[:TARGET]->"
    "(g:Entity {tenant: $t}) WHERE s.id IN $ids OR g.id IN $ids "
    "MATCH (f)-[:STATED_IN]->(c:Chunk {tenant: $t}) "
    "WITH f, s, g, count(c) AS support ORDER BY support DESC, f.id LIMIT $n "
    "RETURN f.id, s.id, g.id, f.kind"
)
FACT_CHUNKS = (
    "UNWIND $ids AS i MATCH (f:Fact {tenant: $t, id: i})-[:STATED_IN]->(c:Chunk {tenant: $t}) "
    "WITH f, c ORDER BY c.id WITH f, collect(c.id)[..$n] AS cs UNWIND cs AS cid "
    "RETURN f.id, cid"
)
NAMES = "UNWIND $ids AS i MATCH (e:Entity {tenant: $t, id: i}) RETURN e.id, e.name"
DEGREES = (
    "UNWIND $ids AS i MATCH (e:Entity {tenant: $t, id: i})-[:MENTIONED_IN]->(c:Chunk {tenant: $t}) "
    "RETURN e.id, count(c)"
)

# -- reconcile ------------------------------------------------------------------------------

TENANTS = "MATCH (c:Chunk) RETURN DISTINCT c.tenant"
MENTIONS_PER_DOCUMENT = (
    "MATCH (c:Chunk {tenant: $t})<-[:MENTIONED_IN]-(:Entity {tenant: $t}) "
    "RETURN c.document_id, count(*)"
)
STATED_PER_DOCUMENT = (
    "MATCH (c:Chunk {tenant: $t})<-[:STATED_IN]-(:Fact {tenant: $t}) RETURN c.document_id, count(*)"
)


class CypherRunner(Protocol):
    """Runs statements in one transaction and returns each one's rows (tuples of scalars).

    Raises ``BackendUnavailable`` when the server cannot be reached or the transaction
    fails transiently, ``ConfigError`` for bad credentials."""

    def run(
        self, statements: Sequence[Statement], *, write: bool
    ) -> list[list[tuple[Any, ...]]]: ...

    def close(self) -> None: ...


class BoltRunner:
    """``CypherRunner`` over the official ``neo4j`` driver (Bolt)."""

    def __init__(self, uri: str, user: str, password: str | None, database: str | None) -> None:
        from neo4j import GraphDatabase

        self._driver = GraphDatabase.driver(uri, auth=(user, password or ""))
        self._database = database

    def run(self, statements: Sequence[Statement], *, write: bool) -> list[list[tuple[Any, ...]]]:
        from neo4j import exceptions

        def work(tx: Any) -> list[list[tuple[Any, ...]]]:
            return [[tuple(r.values()) for r in tx.run(q, dict(p))] for q, p in statements]

        try:
            with self._driver.session(database=self._database) as session:
                if write:
                    return session.execute_write(work)
                return session.execute_read(work)
        except exceptions.AuthError as exc:
            raise ConfigError(f"neo4j refused the credentials: {exc.message}") from exc
        except (exceptions.ServiceUnavailable, exceptions.SessionExpired) as exc:
            raise BackendUnavailable(f"neo4j is unavailable: {exc}") from exc
        except exceptions.Neo4jError as exc:
            raise BackendUnavailable(f"neo4j: {exc.code}: {exc.message}") from exc

    def close(self) -> None:
        self._driver.close()
