"""The Database wrapper on Postgres: URLs, statement timeout, lost connections.

Failures of the server or the connection must reach services as ``BackendUnavailable``
(retryable), and an idempotent read that lost its connection is retried on a fresh one.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from ragd.adapters.sql.database import ConnectionLost, Database, normalise_url
from ragd.errors import BackendUnavailable, ConfigError


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=2, statement_timeout_ms=300)
    yield database
    database.dispose()


def test_urls_are_normalised_and_checked() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError):
        Database("mysql://u@h/db")
    with pytest.raises(ConfigError):
        Database("not a url")


def test_settings_reach_the_server(db: Database) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "300ms"
        assert conn.exec_driver_sql("SHOW application_name").scalar_one() == "ragd"
    assert db.is_postgres and not db.is_sqlite
    assert db.engine.pool.size() == 2  # type: ignore[attr-defined]


def test_statement_timeout_is_backend_unavailable(db: Database) -> None:
    with pytest.raises(BackendUnavailable, match="timed out"):
        db.run_read(lambda conn: conn.exec_driver_sql("SELECT pg_sleep(2)").all())
    with pytest.raises(BackendUnavailable), db.write() as conn:
        conn.exec_driver_sql("SELECT pg_sleep(2)")
    assert db.run_read(lambda conn: conn.exec_driver_sql("SELECT 1").scalar_one()) == 1


def test_a_read_that_loses_its_connection_is_retried(db: Database) -> None:
    attempts: list[int] = []

    def read(conn: Connection) -> int:
        attempts.append(1)
        if len(attempts) == 1:  # the server ends this session, as a restart would
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        return int(conn.exec_driver_sql("SELECT 42").scalar_one())

    assert db.run_read(read) == 42
    assert len(attempts) == 2


def test_a_write_that_loses_its_connection_is_backend_unavailable(db: Database) -> None:
    with pytest.raises(ConnectionLost), db.write() as conn:
        conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
    with db.write() as conn:  # the pool replaced the dead connection
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1


def test_connections_killed_while_idle_are_replaced(db: Database, pg_url: str) -> None:
    with db.read() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    other = Database(pg_url)
    try:
        with other.read() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(%(pid)s)", {"pid": pid})
    finally:
        other.dispose()
    with db.read() as conn:  # pool_pre_ping noticed, no error reaches the caller
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid


def test_unreachable_server_is_backend_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Database(f"postgresql://nobody@127.0.0.1:{port}/x", read_retries=1)
    try:
        with pytest.raises(BackendUnavailable, match="unavailable"):
            db.run_read(lambda conn: conn.exec_driver_sql("SELECT 1").all())
        with pytest.raises(BackendUnavailable), db.write():
            pass
    finally:
        db.dispose()
