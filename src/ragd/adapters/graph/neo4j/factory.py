"""Builds the Neo4j graph store and its sync from the graph settings."""

from __future__ import annotations

from ragd.adapters.graph.neo4j.cypher import BoltRunner, CypherRunner
from ragd.adapters.graph.neo4j.store import Neo4jGraphStore
from ragd.adapters.graph.neo4j.sync import Neo4jGraphSync
from ragd.adapters.graph.sql import SqlGraphStore
from ragd.adapters.sql.database import Database
from ragd.config.graph import GraphSettings
from ragd.errors import ConfigError


def build(db: Database, graph: GraphSettings) -> tuple[Neo4jGraphStore, Neo4jGraphSync]:
    if not graph.neo4j_uri:
        raise ConfigError("RAGD_GRAPH_STORE=neo4j needs NEO4J_URI (bolt:// or neo4j://)")
    password = graph.neo4j_password.get_secret_value() if graph.neo4j_password else None
    runner = BoltRunner(graph.neo4j_uri, graph.neo4j_username, password, graph.neo4j_database)
    return on_runner(db, runner)


def on_runner(db: Database, runner: CypherRunner) -> tuple[Neo4jGraphStore, Neo4jGraphSync]:
    """The store and its sync on any Cypher runner (the tests' runs on FalkorDB)."""
    return Neo4jGraphStore(SqlGraphStore(db, outbox=True), runner), Neo4jGraphSync(db, runner)
