"""Run the Alembic migrations on ragd's own connection (``ragd migrate``, and on start).

The same revisions run on SQLite and Postgres. On Postgres every process (API replicas,
workers) migrates on start, so the run holds a transaction-scoped advisory lock: the
first process migrates, the others wait and then find the schema at head. DDL is
transactional there, so a failed migration leaves the previous revision intact.

Migrations run with row-level security's system scope (``rls.SYSTEM``): a revision that
moves or backfills rows must see every tenant's, and from 0003 on the policies are forced
on the tables' owner too.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.errors import InvalidRequest

_SCRIPTS = Path(__file__).resolve().parents[2] / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


MIGRATION_LOCK = 0x72616764  # "ragd": the advisory lock key every ragd process agrees on


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def upgrade(db: Database, revision: str = "head") -> None:
    with db.write(SYSTEM) as conn:  # connection failures become BackendUnavailable
        _lock(conn)
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    with db.write(SYSTEM) as conn:  # connection failures become BackendUnavailable
        _lock(conn)
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def is_downgrade(db: Database, revision: str) -> bool:
    """Whether going to ``revision`` (an id, ``head``, ``base``, ``-1``, ``+1``) goes back.

    Raises:
        InvalidRequest: no such revision.
    """
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if revision.startswith("+") or revision in ("head", "heads"):
        return False
    now = current(db)
    if revision.startswith("-") or revision == "base":
        return now is not None
    script = ScriptDirectory.from_config(_config())
    try:
        target = script.get_revision(revision)
    except CommandError as exc:
        raise InvalidRequest(f"unknown revision {revision!r}: {exc}") from None
    if target is None or now is None or target.revision == now:
        return False
    return target.revision in {r.revision for r in script.iterate_revisions(now, "base")}


def current(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()
