"""Per-tenant index versions and a change log: how in-memory caches stay coherent.

Several processes (an API server, ingestion workers) may share one database file, so a
process cannot learn about another's writes from in-process notifications; the database
must say. Every write that changes a tenant's index rows, inside the Store transaction
that makes the change:

- bumps the tenant's ``version`` in ``index_versions``;
- logs the ``index_chunks`` rowids it removed or added under that version in
  ``index_changes``.

A reader compares its cached version with the stored one (one primary-key read). If they
differ it reads the rowids logged since, drops those positions and loads the rows that
still exist, all in the same read transaction, so the patched cache equals the committed
state it read the version from. The log keeps the last ``LOG_VERSIONS`` versions per
tenant (``log_floor`` says where it starts); a cache older than that reloads in full.
The ``epoch`` in ``index_meta`` changes whenever the tables are recreated (``rebuild``,
backfill), which invalidates every cache, since versions restart there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from ragd.domain.models import TenantId

LOG_VERSIONS = 2000
"""Versions of change log kept per tenant; a cache further behind reloads the tenant."""

EPOCH_KEY = "epoch"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS index_versions ("
    " tenant_id TEXT PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " log_floor INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS index_changes ("
    " tenant_id TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " chunk_rowid INTEGER NOT NULL,"
    " PRIMARY KEY (tenant_id, version, chunk_rowid)) WITHOUT ROWID",
)
TABLES = ("index_changes", "index_versions")


@dataclass(frozen=True)
class Stamp:
    """Where a tenant's index stands: caches built at an equal stamp are current."""

    epoch: str
    version: int
    log_floor: int


def ensure_epoch(conn: Connection) -> None:
    """Give a freshly created ``index_meta`` its epoch (kept while the tables live)."""
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO index_meta (key, value) VALUES (?, ?)",
        (EPOCH_KEY, uuid.uuid4().hex),
    )


def new_epoch(conn: Connection) -> None:
    """Invalidate every process's caches (after rewriting index rows wholesale)."""
    conn.exec_driver_sql(
        "INSERT OR REPLACE INTO index_meta (key, value) VALUES (?, ?)",
        (EPOCH_KEY, uuid.uuid4().hex),
    )


def stamp(conn: Connection, tenant: TenantId) -> Stamp:
    row = conn.exec_driver_sql(
        "SELECT (SELECT value FROM index_meta WHERE key = ?),"
        " v.version, v.log_floor"
        " FROM (SELECT 1) LEFT JOIN index_versions v ON v.tenant_id = ?",
        (EPOCH_KEY, tenant),
    ).one()
    return Stamp(str(row[0] or ""), int(row[1] or 0), int(row[2] or 0))


def bump(conn: Connection, tenant: TenantId, rowids: Iterable[int]) -> int:
    """Record a change of ``rowids`` (removed or added) as the tenant's next version."""
    version = int(
        conn.exec_driver_sql(
            "INSERT INTO index_versions (tenant_id, version) VALUES (?, 1)"
            " ON CONFLICT (tenant_id) DO UPDATE SET version = version + 1"
            " RETURNING version",
            (tenant,),
        ).scalar_one()
    )
    conn.exec_driver_sql(
        "INSERT OR IGNORE INTO index_changes (tenant_id, version, chunk_rowid) VALUES (?, ?, ?)",
        [(tenant, version, int(r)) for r in set(rowids)],
    )
    floor = version - LOG_VERSIONS
    if floor > 0 and floor % 100 == 0:  # trim in steps, not on every write
        conn.exec_driver_sql(
            "DELETE FROM index_changes WHERE tenant_id = ? AND version <= ?", (tenant, floor)
        )
        conn.exec_driver_sql(
            "UPDATE index_versions SET log_floor = ? WHERE tenant_id = ?", (floor, tenant)
        )
    return version


def changed_rowids(conn: Connection, tenant: TenantId, since: int) -> list[int]:
    """Rowids logged for the tenant after version ``since`` (needs ``since >= log_floor``)."""
    return [
        int(r[0])
        for r in conn.exec_driver_sql(
            "SELECT DISTINCT chunk_rowid FROM index_changes WHERE tenant_id = ? AND version > ?",
            (tenant, since),
        ).all()
    ]


def as_json(rowids: Iterable[int]) -> str:
    return json.dumps([int(r) for r in rowids])
