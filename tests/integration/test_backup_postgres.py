"""``ragd backup`` / ``ragd restore`` of a Postgres Store (pgvector index inside it).

pg_dump and pg_restore are the real client tools of the test server's release
(``RAGD_TEST_PG_BIN``, passed as ``RAGD_PG_BIN_DIR``); the bucket is moto's S3 server. The
test works in a database of its own on the shared server, dropped afterwards, so a
restore's ``--clean`` touches nothing of anyone else's, and as a role of its own that is
not a superuser (as ragd runs in production, under forced row-level security), with the
extensions made by the superuser beforehand (as the chart's init script does).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ragd.adapters.sql.database import normalise_url
from tests.deploy.tools import run
from tests.objectstore import s3_server
from tests.services import database_url, postgres_bin_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _admin(url: str, sql: str) -> None:
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def scratch_db() -> Iterator[tuple[str, str]]:
    """(ragd's URL as its own non-superuser role, the superuser's URL), one database."""
    server = database_url()
    name = f"ragd_backup_{uuid.uuid4().hex[:10]}"
    _admin(server, f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'")
    _admin(server, f'CREATE DATABASE "{name}" OWNER {name}')
    admin = make_url(normalise_url(server)).set(database=name)
    _admin(
        admin.render_as_string(hide_password=False),
        "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS btree_gin",
    )
    own = admin.set(username=name, password=f"pw-{name}")
    try:
        yield own.render_as_string(hide_password=False), admin.render_as_string(hide_password=False)
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(server, f"DROP ROLE IF EXISTS {name}")


def ragd(env: dict[str, str], *args: str) -> str:
    proc = run(sys.executable, "-m", "ragd.cli", *args, env=env, timeout=300)
    assert proc.returncode == 0, f"ragd {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc.stdout


def test_postgres_store_round_trip_through_object_storage(
    scratch_db: tuple[str, str], tmp_path
) -> None:
    own_url, admin_url = scratch_db
    bin_dir, _ = postgres_bin_dir()
    base = {
        **os.environ,
        "DATABASE_URL": own_url,
        "VECTOR_STORE_TYPE": "pgvector",
        "EMBEDDING_MODEL": "hashing-256",
        "RAGD_DATA_DIR": str(tmp_path / "data"),
        "RAGD_PG_BIN_DIR": bin_dir,
        "LOG_LEVEL": "warning",
    }
    ragd(base, "ingest", "samples/")
    docs_before = json.loads(ragd(base, "docs", "list", "--json", "--limit", "500"))
    assert docs_before, "samples/ ingested nothing"
    search_before = json.loads(ragd(base, "search", "retention policy", "--json"))
    search_before.pop("timings", None)
    with s3_server() as s3:
        env = {**base, **s3.env()}
        made = json.loads(ragd(env, "backup", "--json"))
        assert made["kind"] == "postgres" and s3.keys() == [made["key"]]

        # The disaster: every table of ragd's gone (the extensions stay: the superuser's).
        _admin(admin_url, f"DROP OWNED BY {make_url(own_url).username}")
        restored = json.loads(
            ragd(env, "restore", "--date", datetime.now(UTC).date().isoformat(), "--json")
        )
        assert restored["kind"] == "postgres" and restored["name"] == made["name"]
        refused = run(sys.executable, "-m", "ragd.cli", "restore", env=env)
        assert refused.returncode == 2 and "--force" in refused.stderr
        ragd(env, "restore", "--force")  # over a live schema, with --force

    assert json.loads(ragd(base, "docs", "list", "--json", "--limit", "500")) == docs_before
    search_after = json.loads(ragd(base, "search", "retention policy", "--json"))
    search_after.pop("timings", None)
    assert search_after == search_before
