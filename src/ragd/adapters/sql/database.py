"""Engine construction for the SQL Store: SQLite (embedded) and Postgres, one wrapper.

SQLite goes through ``sqlean`` (a drop-in ``sqlite3`` that can load extensions) because
many Pythons, this machine's included, are built without ``enable_load_extension``;
sqlite-vec is loaded into every pooled connection. Transactions are begun explicitly so
that write transactions take the lock up front (``BEGIN IMMEDIATE``): a deferred
transaction that reads and then writes can fail with SQLITE_BUSY under WAL instead of
waiting its turn.

Postgres goes through psycopg 3 with a fixed-size ``QueuePool`` (``CONNECTION_POOL_SIZE``),
``pool_pre_ping`` (a connection killed by a server restart is replaced at checkout instead
of failing the request) and a server-side ``statement_timeout`` set as a connect option.
Connection-level failures (refused, reset, admin shutdown, timeouts) become
``BackendUnavailable``; ``run_read`` retries a whole idempotent read a bounded number of
times when the failure was the connection itself, which is what a Postgres restart or
failover looks like from here.

On Postgres every transaction that touches tenant data is scoped for row-level security
(``ragd.adapters.sql.rls``): ``read``/``write``/``run_read`` take the tenant (or ``SYSTEM``)
and set it first thing in the transaction; without one, the policies show no tenant rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ragd.adapters.sql.rls import Scope, apply_scope
from ragd.errors import BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from ragd.config import StorageSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10
"""libpq ``connect_timeout``: an unreachable host fails within this, not the OS's minutes."""

POOL_RECYCLE_S = 1800
"""Connections older than this are replaced (server- or proxy-side idle limits)."""

READ_RETRIES = 2
READ_RETRY_BACKOFF_S = (0.2, 0.8)
"""Sleeps before the 2nd and 3rd attempt of an idempotent read after a lost connection."""

# SQLSTATEs that mean "this connection or the server went away", so a read can be retried:
# class 08 (connection exception), admin/crash shutdown, cannot connect now (starting up),
# too many connections; plus serialization failure and deadlock, which a retry resolves.
_RETRY_SQLSTATES = ("57P01", "57P02", "57P03", "53300", "40001", "40P01")


class ConnectionLost(BackendUnavailable):
    """The database connection failed underneath a statement; a retry may succeed."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class Database:
    """An engine plus the ways ragd uses it: reads, retried reads and write transactions."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        statement_timeout_ms: int = 30_000,
        read_retries: int = READ_RETRIES,
    ) -> None:
        self.url = normalise_url(url)
        try:
            backend = make_url(self.url).get_backend_name()
        except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
            raise ConfigError(f"DATABASE_URL is not a valid database URL: {exc}") from exc
        self.dialect = backend
        self.is_sqlite = backend == "sqlite"
        self.is_postgres = backend == "postgresql"
        self.read_retries = max(0, read_retries)
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url)
        elif self.is_postgres:
            self.engine = _postgres_engine(self.url, pool_size, statement_timeout_ms)
        else:
            raise ConfigError(
                f"unsupported database {backend!r} in DATABASE_URL; "
                "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
            )

    # ------------------------------------------------------------------ sessions

    @contextmanager
    def write(self, scope: Scope | None = None) -> Iterator[Connection]:
        """One write transaction; commits on exit, rolls back on exception.

        ``scope`` (a tenant, or ``rls.SYSTEM``) is what row-level security lets it see on
        Postgres; ``None`` leaves it to the statements' adapters (``rls.scoped``), as for
        the Store's shared transaction, which several tenants' writes may go through.
        Connecting is retried (nothing has run yet); a failure after that is the caller's
        to handle, as ``BackendUnavailable``: only the caller knows if a retry is safe.
        """
        conn = self._connect(retries=self.read_retries if self.is_postgres else 0)
        with conn, self._translate():
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
                try:
                    tx = conn.begin()
                except OperationalError as exc:  # the write lock was not free within the timeout
                    raise BackendUnavailable(f"database busy: {exc.orig}") from exc
            else:
                tx = conn.begin()
            with tx:
                if scope is not None:
                    apply_scope(conn, scope)
                yield conn

    @contextmanager
    def read(self, scope: Scope | None = None) -> Iterator[Connection]:
        """A read-only use of one connection inside a transaction (one snapshot on SQLite),
        scoped for row-level security to ``scope`` (``None``: no tenant rows on Postgres)."""
        conn = self._connect(retries=0)  # run_read retries the whole read
        with conn, self._translate(), conn.begin():
            if scope is not None:
                apply_scope(conn, scope)
            yield conn

    def run_read(self, fn: Callable[[Connection], T], scope: Scope | None = None) -> T:
        """``fn(conn)`` in a read transaction scoped to ``scope``, retried when the
        connection was lost.

        ``fn`` must be idempotent (reads only): a server restart between two statements
        makes the first attempt fail with ``ConnectionLost``, and the pool hands the retry
        a fresh connection. Other errors, and a still-lost connection after the last retry,
        propagate.
        """
        for attempt in range(self.read_retries + 1):
            try:
                with self.read(scope) as conn:
                    return fn(conn)
            except ConnectionLost as exc:
                if attempt >= self.read_retries:
                    raise
                delay = READ_RETRY_BACKOFF_S[min(attempt, len(READ_RETRY_BACKOFF_S) - 1)]
                log.warning("database read failed (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ internals

    def _connect(self, *, retries: int) -> Connection:
        """A pooled connection, ``retries`` more attempts when the server cannot be reached."""
        attempts = retries + 1
        for attempt in range(attempts):
            try:
                return self.engine.connect()
            except PoolTimeout as exc:
                raise BackendUnavailable(
                    "no database connection free within the pool timeout "
                    "(raise CONNECTION_POOL_SIZE?)"
                ) from exc
            except DBAPIError as exc:
                if attempt + 1 >= attempts or not _is_connection_failure(exc):
                    raise ConnectionLost(f"database unavailable: {_describe(exc)}") from exc
                time.sleep(READ_RETRY_BACKOFF_S[min(attempt, len(READ_RETRY_BACKOFF_S) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Postgres failures of the connection or server become ragd errors.

        SQLite keeps its own translation (the Index adapter tells a locked file from a
        query bug); on Postgres an ``OperationalError`` is never a bug in the statement
        (those are ``ProgrammingError``/``DataError``), so all of them are translated.
        """
        if not self.is_postgres:
            yield
            return
        try:
            yield
        except DBAPIError as exc:
            if _is_connection_failure(exc):
                raise ConnectionLost(f"database connection lost: {_describe(exc)}") from exc
            if _sqlstate(exc) == "57014":
                raise BackendUnavailable(
                    f"database statement timed out (RAGD_STATEMENT_TIMEOUT_MS): {_describe(exc)}"
                ) from exc
            if isinstance(exc, OperationalError):
                raise BackendUnavailable(f"database error: {_describe(exc)}") from exc
            raise


def build(storage: StorageSettings) -> Database:
    """The Store's database: ``DATABASE_URL`` (or SQLite in the data dir), its pool size and
    statement timeout. Opens no connection and changes no schema (see ``migrate``)."""
    return Database(
        storage.sqlalchemy_url,
        pool_size=storage.pool_size,
        statement_timeout_ms=storage.statement_timeout_ms,
    )


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _describe(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def _is_connection_failure(exc: DBAPIError) -> bool:
    """The connection (not the statement) failed: refused, reset, closed, server going away."""
    if exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state.startswith("08") or state in _RETRY_SQLSTATES
    try:
        import psycopg
    except ImportError:  # pragma: no cover - only SQLite in this install
        return False
    orig = exc.orig
    # No SQLSTATE: a client-side failure (connection refused, server closed the connection).
    return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)


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


def _postgres_engine(url: str, pool_size: int, statement_timeout_ms: int) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError(
            "the Postgres backend needs psycopg: pip install 'psycopg[binary]'"
        ) from exc
    parsed = make_url(url)
    # libpq ``options`` from the URL (e.g. a search_path) are kept; ours are appended.
    query = dict(parsed.query)
    user_options = query.pop("options", "")
    if isinstance(user_options, tuple):
        user_options = " ".join(user_options)
    options = f"{user_options} -c statement_timeout={int(statement_timeout_ms)}".strip()
    connect_args: dict[str, Any] = {"options": options}
    if "connect_timeout" not in query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in query:
        connect_args["application_name"] = "ragd"
    return create_engine(
        parsed.set(query=query),
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_recycle=POOL_RECYCLE_S,
        connect_args=connect_args,
    )
