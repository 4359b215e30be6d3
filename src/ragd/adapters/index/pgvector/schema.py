"""The pgvector index's tables, created for the embedding spec they hold.

Tables are created by ``PgVectorIndex.ensure_ready`` rather than by Alembic because the
vector column's dimension is the embedding model's; ``index_meta`` records which model
built them so that a changed ``EMBEDDING_MODEL`` is refused. The tenant tables carry the
row-level security policies of ``ragd.adapters.sql.rls``, applied here since these tables
are not Alembic's. The statements themselves are in ``sql.py``.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ragd.adapters.index.pgvector import sql as q
from ragd.adapters.sql import rls
from ragd.domain.models import EmbeddingSpec
from ragd.errors import ConfigError

log = logging.getLogger(__name__)

_META_MODEL = "embedding_model"
_META_DIMENSION = "embedding_dimension"
_META_SCHEMA = "schema_version"
_SCHEMA_VERSION = "1"


def create(conn: Connection, spec: EmbeddingSpec, *, m: int, ef_construction: int) -> None:
    """Create whatever is missing of the tables for ``spec`` (every statement idempotent)."""
    _ensure_extension(conn, "vector", required=True)
    btree_gin = _ensure_extension(conn, "btree_gin", required=False)
    fresh = conn.exec_driver_sql("SELECT to_regclass('index_chunks') IS NULL").scalar_one()
    for stmt in q.schema_statements(spec.dimension, m, ef_construction, btree_gin=btree_gin):
        conn.exec_driver_sql(stmt)
    if fresh:
        conn.exec_driver_sql(q.COLUMN_STORAGE)
    for table in q.TENANT_TABLES:
        rls.enable_tenant_rls(table, bind=conn)
    conn.exec_driver_sql(
        "INSERT INTO index_meta (key, value) VALUES"
        " (%(k1)s, %(v1)s), (%(k2)s, %(v2)s), (%(k3)s, %(v3)s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        {
            "k1": _META_MODEL,
            "v1": spec.model,
            "k2": _META_DIMENSION,
            "v2": str(spec.dimension),
            "k3": _META_SCHEMA,
            "v3": _SCHEMA_VERSION,
        },
    )


def _ensure_extension(conn: Connection, name: str, *, required: bool) -> bool:
    """Whether extension ``name`` is installed, creating it if this role may."""
    installed = conn.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = %(name)s", {"name": name}
    ).first()
    if installed:
        return True
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {name}")
    except DBAPIError as exc:
        if required:
            raise ConfigError(
                f"the Postgres extension {name!r} is not installed and this role cannot "
                f"create it ({str(exc.orig).strip().splitlines()[0]}); ask a superuser to run "
                f"CREATE EXTENSION {name}"
            ) from exc
        log.info("extension %s unavailable; the text index will not include the tenant", name)
        return False
    return True


def read_spec(conn: Connection) -> EmbeddingSpec | None:
    exists = conn.exec_driver_sql("SELECT to_regclass('index_meta') IS NOT NULL").scalar_one()
    if not exists:
        return None
    meta: dict[str, str] = dict(conn.exec_driver_sql("SELECT key, value FROM index_meta").all())
    if _META_MODEL not in meta or _META_DIMENSION not in meta:
        return None
    return EmbeddingSpec(meta[_META_MODEL], int(meta[_META_DIMENSION]))


def complete(conn: Connection) -> bool:
    """Every relation of the schema exists and the tenant tables' policies are in place."""
    present = conn.exec_driver_sql(
        "SELECT bool_and(to_regclass(n) IS NOT NULL) FROM unnest(%(names)s::text[]) AS n",
        {"names": list(q.SCHEMA_OBJECTS)},
    ).scalar_one()
    return bool(present) and all(rls.tenant_rls_enabled(conn, t) for t in q.TENANT_TABLES)
