"""The init script of the bundled Postgres (compose and the Helm chart) on a real server.

``deploy/helm/ragd/files/init-ragd-role.sh`` runs as the docker image's entrypoint would
run it (psql on PATH, the image's superuser and database in the environment). Afterwards
ragd, connected as the role it created, must be able to migrate and build its index, and
must be held by row-level security: it is no superuser, has no BYPASSRLS, and a query
outside any tenant scope sees none of the rows it wrote.
"""

from __future__ import annotations

import os
import subprocess

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ragd.adapters.index.pgvector import PgVectorIndex
from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database, normalise_url
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import EmbeddingSpec, NewDocument, TenantId
from tests.live import ROOT
from tests.private_postgres import PrivatePostgres

SCRIPT = ROOT / "deploy/helm/ragd/files/init-ragd-role.sh"


def test_bundled_postgres_gives_ragd_a_role_that_rls_holds(
    private_postgres: PrivatePostgres,
) -> None:
    pg = private_postgres
    admin = create_engine(normalise_url(pg.url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE ragd")  # the entrypoint does this (POSTGRES_DB)
    admin.dispose()
    env = {
        **os.environ,
        "PATH": f"{pg.bin_dir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "ragd",
        "RAGD_DB_USER": "ragd",
        "RAGD_DB_PASSWORD": "s3cret-for-this-test",
    }
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    url = f"postgresql://ragd:s3cret-for-this-test@127.0.0.1:{pg.port}/ragd"
    db = Database(url)
    migrate.upgrade(db)  # ragd migrates as its own role...
    PgVectorIndex(db, EmbeddingSpec("test-8", 8)).ensure_ready()  # ...and builds its index
    store = SqlStore(db)
    tenant = TenantId("acme")
    store.ensure_tenant(tenant)
    with store.transaction() as tx:
        store.create_document(tx, tenant, NewDocument("a.txt", "A", "text/plain", "h", 1, {}))
    assert store.count_documents(tenant) == 1

    with db.engine.connect() as conn:
        role = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        assert tuple(role) == (False, False)
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() == 0
    db.dispose()
