"""Databases for the contract suites: a SQLite file per test, a Postgres schema per test.

The Postgres cases need ``DATABASE_URL`` (``scripts/test-services.sh``); without it they
skip with the reason, or fail under ``RAGD_TEST_REQUIRE_SERVICES=1`` (see tests/services.py).

One database per test session (``ragd_test_<random>``, dropped at the end) keeps parallel
runs on a shared server apart; inside it every test gets its own schema, reached through
the connection's ``search_path``, so a test that counts every job or rebuilds the index
sees only its own rows, exactly like a test on its own SQLite file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ragd.adapters.sql.database import normalise_url
from tests.services import database_url

BACKENDS = ["sqlite", "postgres"]
"""Every SQL-backed contract suite runs on both (fixture ``params=BACKENDS``)."""


def _admin_engine(url: str) -> Engine:
    return create_engine(normalise_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh database for this session, with pgvector (and btree_gin) installed
    in its ``public`` schema; dropped when the session ends."""
    server = database_url()  # skips (or fails under RAGD_TEST_REQUIRE_SERVICES=1)
    name = f"ragd_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(server)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # a URL that is set but dead is a failure, never a skip
        admin.dispose()
        pytest.fail(f"DATABASE_URL={server} does not accept CREATE DATABASE: {exc}")
    url = _with_database(server, name)
    db = _admin_engine(url)
    try:
        with db.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public")
        db.dispose()
        yield url
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A Postgres URL whose connections see only a schema of their own (plus ``public``,
    for the extensions' types and operators)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(pg_database)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_database else "?"
    yield f"{pg_database}{sep}options={quote(f'-csearch_path={schema},public', safe='')}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def database_url_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of a contract-suite param: a SQLite file or a Postgres schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/ragd.db"
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    raise ValueError(f"unknown backend {backend!r}")
