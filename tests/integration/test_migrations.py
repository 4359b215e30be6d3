"""The Alembic revisions run, up and down, on SQLite and on Postgres.

Every revision is applied one step at a time and undone one step at a time, so a
downgrade that forgets a table or an upgrade that only works on one dialect fails here.
The Postgres cases use a schema of their own in the session's test database (see
tests/contract/conftest.py) and skip without ``DATABASE_URL``.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from ragd.adapters.sql import (
    migrate,
    sources_schema,  # noqa: F401 - its tables in the metadata
)
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.schema import metadata
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import NewDocument, TenantId
from tests.contract.conftest import (  # noqa: F401 - fixtures
    BACKENDS,
    database_url_for,
    pg_database,
    pg_session_database,
    pg_url,
)


def _revisions() -> list[str]:
    """Revision ids from base to head."""
    script = ScriptDirectory.from_config(migrate._config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    database = Database(database_url_for(request.param, request, tmp_path))
    yield database  # type: ignore[misc]
    database.dispose()


def _tables(db: Database) -> set[str]:
    with db.read() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _store_works(db: Database) -> None:
    store = SqlStore(db)
    tenant = TenantId(f"t-{uuid.uuid4().hex[:8]}")
    store.ensure_tenant(tenant)
    with store.transaction() as tx:
        doc = store.create_document(
            tx, tenant, NewDocument("a.txt", "A", "text/plain", "h", 1, {"k": [1, "x"]})
        )
    assert store.get_document(tenant, doc.id).metadata == {"k": [1, "x"]}


def test_upgrade_to_head_creates_the_schema_the_code_declares(db: Database) -> None:
    migrate.upgrade(db)
    assert migrate.current(db) == _revisions()[-1]
    assert _tables(db) >= set(metadata.tables)
    with db.read() as conn:
        inspector = inspect(conn)
        for name, table in metadata.tables.items():
            have = {c["name"] for c in inspector.get_columns(name)}
            assert have == set(table.columns.keys()), name
    _store_works(db)
    migrate.upgrade(db)  # at head: a no-op
    assert migrate.current(db) == _revisions()[-1]


def test_downgrade_to_base_and_back(db: Database) -> None:
    migrate.upgrade(db)
    migrate.downgrade(db, "base")
    assert migrate.current(db) is None
    assert _tables(db) == set()
    migrate.upgrade(db)
    assert migrate.current(db) == _revisions()[-1]
    _store_works(db)


def test_every_revision_steps_up_and_down(db: Database) -> None:
    revisions = _revisions()
    seen: list[set[str]] = [set()]
    for rev in revisions:
        migrate.upgrade(db, rev)
        assert migrate.current(db) == rev
        seen.append(_tables(db))
    for i in range(len(revisions) - 1, -1, -1):
        migrate.downgrade(db, revisions[i - 1] if i else "base")
        assert migrate.current(db) == (revisions[i - 1] if i else None)
        assert _tables(db) == seen[i]


def test_postgres_uses_jsonb_and_concurrent_upgrades_serialise(pg_url: str) -> None:  # noqa: F811
    dbs = [Database(pg_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(d: Database) -> None:
        try:
            migrate.upgrade(d)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with dbs[0].read() as conn:
        types = dict(
            conn.exec_driver_sql(
                "SELECT table_name || '.' || column_name, data_type"
                " FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND column_name IN ('metadata', 'heading_path')"
            ).all()
        )
    assert types == {
        "documents.metadata": "jsonb",
        "chunks.heading_path": "jsonb",
        "chunks.metadata": "jsonb",
    }
    for d in dbs:
        d.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ragd_migrate_command(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ragd.cli import app
    from ragd.config import get_settings

    url = database_url_for(backend, request, tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"revision {_revisions()[-1]}" in result.output
    db = Database(url)
    try:
        assert migrate.current(db) == _revisions()[-1]
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ragd_migrate_current_and_to(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--current`` changes nothing; ``--to`` goes up or down; a downgrade outside
    development needs ``--yes``."""
    from typer.testing import CliRunner

    from ragd.cli import app
    from ragd.config import get_settings
    from ragd.errors import InvalidRequest

    url = database_url_for(backend, request, tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    head, previous = _revisions()[-1], _revisions()[-2]

    def run(*args: str, environment: str = "development") -> Any:
        monkeypatch.setenv("ENVIRONMENT", environment)
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args))
        finally:
            get_settings.cache_clear()

    assert run("migrate", "--current").output.strip() == "base"  # a fresh database
    assert run("migrate").exit_code == 0
    assert run("migrate", "--current").output.strip() == head
    refused = run("migrate", "--to", previous, environment="production")
    assert isinstance(refused.exception, InvalidRequest)
    assert "downgrade" in str(refused.exception) and "--yes" in str(refused.exception)
    assert run("migrate", "--current").output.strip() == head  # nothing changed
    done = run("migrate", "--to", previous, "--yes", environment="production")
    assert done.exit_code == 0 and f"revision {previous}" in done.output
    assert run("migrate", "--current").output.strip() == previous
    assert f"revision {head}" in run("migrate", "--to", "head", environment="production").output
    assert f"revision {previous}" in run("migrate", "--to", "-1").output  # development
    assert f"revision {head}" in run("migrate", "--to", "+1").output
    unknown = run("migrate", "--to", "0123abcd")
    assert isinstance(unknown.exception, InvalidRequest)
    assert "unknown revision" in str(unknown.exception)


def test_a_database_made_before_collections_upgrades_in_place_and_keeps_every_document(
    db: Database,
) -> None:
    """Revision 0010 on data written at 0009 (only the columns that revision had):
    every document lands in its tenant's default collection, every member keeps reading
    it, and nothing is lost."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from ragd.adapters.sql import rls
    from ragd.adapters.sql.access_schema import collections, grants

    migrate.upgrade(db, "0009")
    now = datetime.now(UTC)
    old_tenants = sa.table(
        "tenants", *(sa.column(c) for c in ("id", "name", "status", "created_at"))
    )
    old_cols = (
        "id tenant_id source title media_type content_hash size_bytes metadata status version"
        " chunk_count created_at updated_at"
    ).split()
    old_docs = sa.table(
        "documents",
        *(sa.column(c, sa.JSON() if c == "metadata" else None) for c in old_cols),  # type: ignore[arg-type]
    )
    tenant_ids = [TenantId("old-a"), TenantId("old-b")]
    rows = [
        {
            "id": f"{t}-{i}",
            "tenant_id": t,
            "source": f"s{i}",
            "title": f"T{i}",
            "media_type": "text/plain",
            "content_hash": "h",
            "size_bytes": 1,
            "metadata": {"i": f"{t}-{i}"},
            "status": "indexed",
            "version": 1,
            "chunk_count": 1,
            "created_at": now,
            "updated_at": now,
        }
        for t in tenant_ids
        for i in range(7)
    ]
    with db.write(rls.SYSTEM) as conn:
        conn.execute(
            old_tenants.insert(),
            [{"id": t, "name": t, "status": "active", "created_at": now} for t in tenant_ids],
        )
        conn.execute(old_docs.insert(), rows)
    migrate.upgrade(db)
    assert migrate.current(db) == _revisions()[-1]
    store = SqlStore(db)
    for t in tenant_ids:
        found = store.list_documents(t, limit=100)
        assert sorted(d.id for d in found) == sorted(r["id"] for r in rows if r["tenant_id"] == t)
        for d in found:
            assert d.collection_id == "default" and d.readers == ()
            assert d.metadata == {"i": d.id}
            assert store.get_document(t, d.id).collection_id == "default"
    with db.read(rls.SYSTEM) as conn:
        have = {(r.tenant_id, r.id) for r in conn.execute(collections.select())}
        granted = {
            (r.tenant_id, r.collection_id, r.principal, r.level)
            for r in conn.execute(grants.select())
        }
    assert have == {(t, "default") for t in tenant_ids}
    assert granted == {(t, "default", "*", "write") for t in tenant_ids}
    _store_works(db)  # new documents get the default collection from the server default
