"""Per-tenant HNSW graphs, built one at a time beside the shared graph (``maintain``).

One HNSW graph serves every tenant; a tenant above the exact-search threshold gets a
partial graph of its own (see ``sql.TENANT_GRAPHS``), built ``CONCURRENTLY``: the
tenant's writes (and everyone else's) go on while it builds, and its searches use the
shared graph until it is valid. An interrupted build leaves an invalid index, dropped and
built again here. One builder at a time across processes (an advisory lock).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import ProgrammingError

from ragd.adapters.index.pgvector import sql as q
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.errors import ConfigError

log = logging.getLogger(__name__)

_GRAPH_LOCK = 0x72616768  # one per-tenant graph build at a time (``maintain``)


class NotTableOwner(ConfigError):
    """This role may not build indexes on the index tables: only their owner may."""


def build_next(
    db: Database, *, exact_below: int, m: int, ef_construction: int, build_memory: str
) -> str | None:
    """Build the graph of one tenant above ``exact_below`` rows that lacks one; returns
    the tenant, None when none does or another process is building one.

    ``NotTableOwner`` when this role cannot create the index.
    """
    with db.read(SYSTEM) as conn:
        graphs: dict[str, bool] = dict(conn.exec_driver_sql(q.TENANT_GRAPHS).all())
        tenants = conn.exec_driver_sql(q.BIG_TENANTS, {"rows": exact_below}).all()
    missing = [t for (t,) in tenants if graphs.get(q.tenant_graph_name(t)) is not True]
    if not missing:
        return None
    tenant = missing[0]
    name = q.tenant_graph_name(tenant)
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_GRAPH_LOCK})").scalar():
            return None
        timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar_one()
        try:
            conn.exec_driver_sql("SET statement_timeout = 0")  # a build takes minutes
            # A graph that does not fit maintenance_work_mem is built on disk, ~3x
            # slower (measured: a 193k-row tenant at the 64MB default).
            conn.exec_driver_sql(f"SET maintenance_work_mem = '{build_memory}'")
            if graphs.get(name) is False:  # an interrupted build
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            ddl = conn.exec_driver_sql(
                q.TENANT_GRAPH_DDL,
                {"name": name, "m": m, "ef_construction": ef_construction, "tenant": tenant},
            ).scalar_one()
            started = time.monotonic()
            try:
                conn.exec_driver_sql(ddl.replace("%", "%%"))  # no placeholders in it
            except ProgrammingError as exc:
                if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
                    raise
                raise NotTableOwner(
                    f"cannot build tenant {tenant!r}'s vector index: "
                    f"{str(exc.orig).strip().splitlines()[0]}. Run `ragd maintain` as the "
                    "role that owns the tables; until then its searches use the shared "
                    "graph"
                ) from exc
            # Fresh statistics, or the planner may still think the tenant small
            # and prefer a scan of its rows (a sample of 30k rows: about a second).
            conn.exec_driver_sql("ANALYZE index_chunks")
            took = time.monotonic() - started
            log.info("built the vector index of tenant %s in %.1fs", tenant, took)
        finally:
            conn.exec_driver_sql(f"SET statement_timeout = '{timeout}'")
            conn.exec_driver_sql("RESET maintenance_work_mem")
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_GRAPH_LOCK})")
    return tenant
