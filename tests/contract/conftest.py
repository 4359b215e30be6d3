"""Databases for the contract suites: a SQLite file per test, a Postgres schema per test.

The Postgres cases need ``DATABASE_URL`` (``scripts/test-services.sh``); without it they
skip with the reason, or fail under ``RAGD_TEST_REQUIRE_SERVICES=1`` (see tests/services.py).

One database per test session (``ragd_test_<random>``, dropped at the end) keeps parallel
runs on a shared server apart; inside it every test gets its own schema, reached through
the connection's ``search_path``, so a test that counts every job or rebuilds the index
sees only its own rows, exactly like a test on its own SQLite file.

ragd connects as it must in production: as a login role of its own (``ragd_app_<random>``,
dropped with the database) that is neither superuser nor ``BYPASSRLS``, so the row-level
security policies apply to every statement the adapters send. The role owns the schema of
its test and so the tables it migrates into it (ragd migrates on start; the policies are
forced on the owner). ``tests/integration/test_rls.py`` also runs ragd as a role that owns
nothing and is only granted DML.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class PgTestDatabase:
    """The session's database, reachable as the server's superuser and as ragd's role."""

    admin_url: str
    """The test server's own (super)user: creates schemas, roles and grants."""
    app_url: str
    """ragd's role: LOGIN, NOSUPERUSER, NOBYPASSRLS, no CREATEDB/CREATEROLE."""
    app_role: str


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[PgTestDatabase]:
    """A fresh database for this session, with pgvector (and btree_gin) installed in its
    ``public`` schema, and a restricted login role for ragd; both dropped at the end."""
    server = database_url()  # skips (or fails under RAGD_TEST_REQUIRE_SERVICES=1)
    suffix = uuid.uuid4().hex[:12]
    name, role, password = f"ragd_test_{suffix}", f"ragd_app_{suffix}", secrets.token_hex(16)
    admin = _admin_engine(server)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            conn.exec_driver_sql(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE'
                f" PASSWORD '{password}'"
            )
    except Exception as exc:  # a URL that is set but dead is a failure, never a skip
        admin.dispose()
        pytest.fail(f"DATABASE_URL={server} does not accept CREATE DATABASE/ROLE: {exc}")
    url = _with_database(server, name)
    app_url = (
        make_url(url).set(username=role, password=password).render_as_string(hide_password=False)
    )
    db = _admin_engine(url)
    try:
        with db.connect() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public")
        db.dispose()
        yield PgTestDatabase(url, app_url, role)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database(pg_session_database: PgTestDatabase) -> str:
    """The session database's superuser URL."""
    return pg_session_database.admin_url


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections see only ``schema`` (plus ``public``, for the extensions'
    types and operators)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema},public', safe='')}"


@contextmanager
def pg_schema(pgdb: PgTestDatabase, *, owner: str | None = None) -> Iterator[str]:
    """A schema of its own for a test (or a module), owned by ``owner`` (default: ragd's
    role); yields its name and drops it with everything in it afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(pgdb.admin_url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'CREATE SCHEMA "{schema}" AUTHORIZATION "{owner or pgdb.app_role}"'
            )
        yield schema
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def pg_url(pg_session_database: PgTestDatabase) -> Iterator[str]:
    """A Postgres URL for ragd's restricted role, seeing only a schema of its own."""
    with pg_schema(pg_session_database) as schema:
        yield with_search_path(pg_session_database.app_url, schema)


def database_url_for(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of a contract-suite param: a SQLite file or a Postgres schema."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/ragd.db"
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    raise ValueError(f"unknown backend {backend!r}")


@pytest.fixture(scope="session")
def sentinel_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis+sentinel://`` URL of a master with a password behind one Sentinel, private
    to this session (tests/private_sentinel.py)."""
    from tests.private_sentinel import PrivateSentinel
    from tests.services import redis_server_binary

    sentinel = PrivateSentinel(redis_server_binary(), tmp_path_factory.mktemp("sentinel"))
    sentinel.start()
    yield sentinel.url
    sentinel.stop()
