"""Engine construction for the SQL Store (SQLite now, Postgres with the same code later).

SQLite goes through ``sqlean`` (a drop-in ``sqlite3`` that can load extensions) because
many Pythons, this machine's included, are built without ``enable_load_extension``;
sqlite-vec is loaded into every pooled connection. Transactions are begun explicitly so
that write transactions take the lock up front (``BEGIN IMMEDIATE``): a deferred
transaction that reads and then writes can fail with SQLITE_BUSY under WAL instead of
waiting its turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from ragd.errors import BackendUnavailable, ConfigError

BUSY_TIMEOUT_MS = 30_000


class Database:
    """An engine plus the two ways ragd uses it: short reads and write transactions."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _sqlite_engine(url) if self.is_sqlite else _server_engine(url, pool_size)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; commits on exit, rolls back on exception."""
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise BackendUnavailable(f"database unavailable: {exc.orig}") from exc
        with conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            try:
                tx = conn.begin()
            except OperationalError as exc:  # the write lock was not free within the timeout
                raise BackendUnavailable(f"database busy: {exc.orig}") from exc
            with tx:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise BackendUnavailable(f"database unavailable: {exc.orig}") from exc
        with conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    try:
        import sqlean  # type: ignore[import-untyped]
        import sqlite_vec  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - both are core dependencies
        raise ConfigError("the SQLite backend needs sqlean.py and sqlite-vec installed") from exc
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, module=sqlean, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
        dbapi_conn.enable_load_extension(True)
        sqlite_vec.load(dbapi_conn)
        dbapi_conn.enable_load_extension(False)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def _server_engine(url: str, pool_size: int) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, pool_pre_ping=True)
