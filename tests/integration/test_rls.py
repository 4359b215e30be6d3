"""Row-level security on Postgres: a statement that forgets its tenant filter fails closed.

ragd runs here as it may in production at its strictest: a login role that is neither
superuser nor ``BYPASSRLS`` and owns nothing (the tables belong to the role that migrated;
ragd's is only granted DML). Two tenants' data goes in through the real adapters (Store,
Queue, Accounts, Audit, pgvector Index, and the worker's claim/complete path), then raw SQL
with no WHERE clause shows what the policies let through, table by table:

- with ``SET LOCAL ragd.tenant_id`` = a: exactly tenant a's rows (the superuser's count);
- with nothing set: no rows, and an unfiltered DELETE removes nothing;
- scoped to a: inserting a row of tenant b, or moving a's rows to b, is refused.

Every table with a ``tenant_id`` column (plus ``tenants``) must carry both policies, so a
table added later without them fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ragd.adapters.graph.sql import SqlGraphStore
from ragd.adapters.index.pgvector import PgVectorIndex
from ragd.adapters.sql import migrate, rls
from ragd.adapters.sql.accounts import SqlAccounts
from ragd.adapters.sql.audit import SqlAudit
from ragd.adapters.sql.conversations import SqlConversations
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.images import SqlImageStore
from ragd.adapters.sql.queue import SqlQueue
from ragd.adapters.sql.rls import SYSTEM, scoped, system_scope
from ragd.adapters.sql.schema import documents
from ragd.adapters.sql.sources import SqlSourceStore
from ragd.adapters.sql.store import SqlStore
from ragd.domain.accounts import Role, TenantLimits
from ragd.domain.answer import Answer
from ragd.domain.conversations import Feedback, Rating, Turn
from ragd.domain.graph import ChunkExtraction, ExtractedEntity, ExtractedRelation, Extraction
from ragd.domain.models import (
    Chunk,
    DocumentImage,
    DocumentStatus,
    EmbeddingSpec,
    IndexEntry,
    NewDocument,
    TenantId,
    utcnow,
)
from ragd.domain.sources import ItemRecord, NewSource
from ragd.errors import NotFound
from ragd.ports.index import IndexQuery
from tests.contract.conftest import (  # noqa: F401 - fixtures
    PgTestDatabase,
    pg_schema,
    pg_session_database,
    pg_url,
    with_search_path,
)

A, B = TenantId("tenant-a"), TenantId("tenant-b")
SPEC = EmbeddingSpec("test-model", 8)

TENANT_TABLES = {
    "tenants": "id",
    "documents": "tenant_id",
    "document_blobs": "tenant_id",
    "chunks": "tenant_id",
    "chunk_images": "tenant_id",
    "ingest_jobs": "tenant_id",
    "users": "tenant_id",
    "api_keys": "tenant_id",
    "audit_log": "tenant_id",
    "query_log": "tenant_id",
    "usage_events": "tenant_id",
    "index_tenants": "tenant_id",
    "index_chunks": "tenant_id",
    "index_terms": "tenant_id",
    "sources": "tenant_id",
    "source_items": "tenant_id",
    "conversations": "tenant_id",
    "answer_turns": "tenant_id",
    "answer_feedback": "tenant_id",
    "graph_entities": "tenant_id",
    "graph_aliases": "tenant_id",
    "graph_mentions": "tenant_id",
    "graph_relations": "tenant_id",
    "graph_relation_chunks": "tenant_id",
    "graph_documents": "tenant_id",
    "graph_extraction_cache": "tenant_id",
    "graph_outbox": "tenant_id",
}
"""Tables this test fills for both tenants (tables added later are checked too, when they
hold rows)."""


@dataclass
class World:
    schema: str
    owner: Database
    """The server's superuser: owns the tables, bypasses RLS (the reference counts)."""
    app: Database
    """ragd's role: no superuser, no BYPASSRLS, owns nothing."""
    tables: dict[str, str]
    """Every tenant-scoped table in the schema -> its tenant column."""


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(SPEC.dimension).astype(np.float32)
    return v / np.linalg.norm(v)


def _fill(app: Database) -> None:
    """Both tenants' data, written the way ragd writes it."""
    store, queue, index = SqlStore(app), SqlQueue(app), PgVectorIndex(app, SPEC)
    accounts, audit, convs = SqlAccounts(app), SqlAudit(app), SqlConversations(app)
    index.ensure_ready()  # everything exists: no DDL, which this role could not run
    docs = {}
    for t in (A, B):
        accounts.create_tenant(t, f"name of {t}", TenantLimits())
        user = accounts.create_user(t, "ann", f"ann@{t}.example", Role.EDITOR)
        key = accounts.create_key(
            t, user.id, name="k", prefix=f"p{t[-1]}", secret_hash="hash", expires_at=None
        )
        accounts.touch_key(t, key.id, key.created_at)
        audit.record(
            t,
            user_id=user.id,
            action="test",
            resource="r",
            outcome="ok",
            client_ip=None,
            request_id="req",
        )
        audit.record_query(t, user_id=user.id, request_id="req", kind="search", text="q")
        audit.record_usage(
            t,
            user_id=user.id,
            request_id="req",
            model="m",
            prompt_tokens=1,
            completion_tokens=2,
            cost_usd=0.0,
        )
        convs.create_conversation(t, f"conv-{t}", user_id=user.id, title="c")
        turn = Turn(
            f"turn-{t}",
            t,
            user.id,
            f"conv-{t}",
            "query",
            "q?",
            "q?",
            Answer("a", [], [], "m", grounded=True),
            utcnow(),
        )
        convs.add_turn(t, turn, keep_passages=True)
        convs.put_feedback(t, Feedback(turn.id, t, user.id, Rating.UP, None, None, utcnow()))
        store.ensure_tenant(t)
        with store.transaction() as tx:
            doc = store.create_document(
                tx, t, NewDocument(f"{t}.txt", "T", "text/plain", f"h-{t}", 5, {})
            )
            store.put_blob(tx, t, doc.id, b"bytes")
            SqlImageStore(app).replace_images(tx, t, doc.id, [DocumentImage("1", b"png")])
            queue.enqueue(tx, t, doc.id)
        docs[t] = doc
    # The worker: one claim across tenants, then one transaction committing both tenants'
    # documents (as a batch does), with the lease completion taking the bypass in between.
    jobs = queue.claim("worker-1", limit=10, lease_seconds=60)
    assert {j.tenant_id for j in jobs} == {A, B}
    with store.transaction() as tx:
        for job in jobs:
            queue.complete(tx, job.id, "worker-1")
            doc = docs[job.tenant_id]
            chunk = Chunk(
                f"{doc.id}:1:0", doc.id, job.tenant_id, 0, f"river {job.tenant_id}", 0, 5, 2
            )
            store.replace_chunks(tx, job.tenant_id, doc.id, [chunk])
            index.upsert_document(
                tx,
                job.tenant_id,
                doc.id,
                [IndexEntry(chunk.id, doc.id, doc.source, "T", chunk.text, _vec(1), {})],
            )
            store.set_status(tx, job.tenant_id, doc.id, DocumentStatus.INDEXED, chunk_count=1)
    sources = SqlSourceStore(app)
    for t in (A, B):  # a synced source holding the first document
        src = sources.create(
            t,
            NewSource("share", "folder", {"path": "/srv"}, 3600, sealed_secret=b"sealed"),
            next_run_at=utcnow(),
        )
        sources.put_item(t, src.id, ItemRecord("a.txt", docs[t].id, "1:5"), run=1)
    # The knowledge graph of each tenant's indexed document (with the Neo4j outbox on, so
    # graph_outbox has rows too), and an extraction cached for each.
    graph = SqlGraphStore(app, outbox=True)
    for t in (A, B):
        doc = docs[t]
        extraction = Extraction(
            (
                ExtractedEntity("River Authority", "org", ("RA",)),
                ExtractedEntity(f"Delta {t}", "place"),
            ),
            (ExtractedRelation("River Authority", f"Delta {t}", "manages"),),
        )
        with store.transaction() as tx:
            assert graph.write_document(
                tx, t, doc.id, 1, [ChunkExtraction(f"{doc.id}:1:0", extraction)]
            )
        graph.cache_extractions(t, {"key": extraction})
    for t in (A, B):  # a second document, queued with its bytes, so every table has rows
        with store.transaction() as tx:
            doc = store.create_document(
                tx, t, NewDocument(f"{t}-2.txt", "T2", "text/plain", f"h2-{t}", 5, {})
            )
            store.put_blob(tx, t, doc.id, b"more")
            queue.enqueue(tx, t, doc.id)


@pytest.fixture(scope="module")
def world(pg_session_database: PgTestDatabase) -> Iterator[World]:  # noqa: F811
    pgdb = pg_session_database
    owner_role = make_url(pgdb.admin_url).username
    with pg_schema(pgdb, owner=owner_role) as schema:
        owner = Database(with_search_path(pgdb.admin_url, schema))
        migrate.upgrade(owner)
        PgVectorIndex(owner, SPEC).ensure_ready()
        with owner.write() as conn:
            for stmt in (
                f'GRANT USAGE ON SCHEMA "{schema}" TO "{pgdb.app_role}"',
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}"'
                f' TO "{pgdb.app_role}"',
                f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{pgdb.app_role}"',
            ):
                conn.exec_driver_sql(stmt)
            tables = dict(
                conn.exec_driver_sql(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = %(s)s AND column_name = 'tenant_id'",
                    {"s": schema},
                ).all()
            )
        tables["tenants"] = "id"
        app = Database(with_search_path(pgdb.app_url, schema))
        migrate.upgrade(app)  # at head already: ragd's start-up migration is a no-op
        _fill(app)
        yield World(schema, owner, app, tables)
        app.dispose()
        owner.dispose()


def _raw(db: Database) -> Connection:
    """A plain connection of ``db``'s role, outside every ragd helper."""
    return db.engine.connect()


def _count(conn: Connection, table: str, where: str = "") -> int:
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table} {where}").scalar_one())


def test_ragd_role_is_restricted_and_owns_nothing(world: World) -> None:
    with world.app.read() as conn:
        sup, bypass = conn.exec_driver_sql(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).one()
        owned = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %(s)s AND pg_get_userbyid(c.relowner) = current_user",
            {"s": world.schema},
        ).scalar_one()
    assert (sup, bypass, owned) == (False, False, 0)


def test_every_tenant_table_has_forced_rls_and_both_policies(world: World) -> None:
    assert set(world.tables) >= set(TENANT_TABLES), "a tenant table went missing"
    with world.owner.read() as conn:
        for table in world.tables:
            assert rls.tenant_rls_enabled(conn, table), f"{table} is not under RLS"
            policies = dict(
                conn.exec_driver_sql(
                    "SELECT policyname, qual FROM pg_policies"
                    " WHERE schemaname = %(s)s AND tablename = %(t)s",
                    {"s": world.schema, "t": table},
                ).all()
            )
            access = {rls.ACCESS_POLICY} if table in ("documents", "chunks") else set()
            assert set(policies) == {rls.TENANT_POLICY, rls.SYSTEM_POLICY, *access}, table
            assert rls.TENANT_SETTING in policies[rls.TENANT_POLICY]
            assert rls.SYSTEM_SETTING in policies[rls.SYSTEM_POLICY]


def test_a_tenant_setting_shows_that_tenants_rows_only(world: World) -> None:
    for table, column in world.tables.items():
        with _raw(world.owner) as conn:  # superuser: the truth
            truth = {t: _count(conn, table, f"WHERE {column} = '{t}'") for t in (A, B)}
        if table in TENANT_TABLES:
            assert truth[A] > 0 and truth[B] > 0, f"the test wrote no {table} rows"
        for t in (A, B):
            with _raw(world.app) as conn, conn.begin():
                conn.exec_driver_sql(f"SET LOCAL ragd.tenant_id = '{t}'")
                seen = [r[0] for r in conn.exec_driver_sql(f"SELECT {column} FROM {table}")]
            assert set(seen) <= {t} and len(seen) == truth[t], (table, t, len(seen), truth)


def test_nothing_set_shows_nothing_and_deletes_nothing(world: World) -> None:
    for table in world.tables:
        with _raw(world.app) as conn, conn.begin() as tx:
            assert _count(conn, table) == 0, table
            assert conn.exec_driver_sql(f"DELETE FROM {table}").rowcount == 0, table
            assert (
                conn.exec_driver_sql(f"UPDATE {table} SET {world.tables[table]} = 'x'").rowcount
                == 0
            )
            tx.rollback()
    # A setting left by an earlier transaction of the same session reads back as '': still
    # nothing (the pool reuses sessions).
    with _raw(world.app) as conn:
        with conn.begin():
            conn.exec_driver_sql(f"SET LOCAL ragd.tenant_id = '{A}'")
        with conn.begin():
            assert (
                conn.exec_driver_sql("SELECT current_setting('ragd.tenant_id', true)").scalar_one()
                == ""
            )
            assert _count(conn, "documents") == 0


def test_scoped_to_a_writing_tenant_b_rows_is_refused(world: World) -> None:
    for table, column in world.tables.items():
        with _raw(world.owner) as conn:
            if _count(conn, table, f"WHERE {column} = '{A}'") == 0:
                continue  # a table this test does not fill (an external index's outbox)
        # A copy of one of a's rows, relabelled as b's: the policy's WITH CHECK runs before
        # any constraint, so the refusal is RLS's, not a duplicate key.
        insert = (
            f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table},"
            f" to_jsonb(x) || jsonb_build_object('{column}', '{B}'))).*"
            f" FROM {table} x LIMIT 1"
        )
        move = f"UPDATE {table} SET {column} = '{B}'"
        for stmt in (insert, move):
            with _raw(world.app) as conn, conn.begin():
                conn.exec_driver_sql(f"SET LOCAL ragd.tenant_id = '{A}'")
                with pytest.raises(DBAPIError) as err:
                    conn.exec_driver_sql(stmt)
            assert getattr(err.value.orig, "sqlstate", None) == "42501", (table, stmt)
            assert "row-level security" in str(err.value.orig), (table, stmt)


def test_system_bypass_sees_every_tenant(world: World) -> None:
    with _raw(world.app) as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL ragd.system = 'on'")
        tenants = {r[0] for r in conn.exec_driver_sql("SELECT tenant_id FROM documents")}
    assert tenants == {A, B}


def test_adapters_see_their_own_tenant(world: World) -> None:
    store, index, queue = SqlStore(world.app), PgVectorIndex(world.app, SPEC), SqlQueue(world.app)
    for t, other in ((A, B), (B, A)):
        docs = store.list_documents(t)
        assert len(docs) == 2 and {d.tenant_id for d in docs} == {t}
        hits = index.search(t, IndexQuery(text="river", vector=_vec(1), mode="hybrid", k=10))
        assert len(hits) == 1 and hits[0].chunk_id.split(":")[0] in {d.id for d in docs}
        assert index.count(t) == 1 and store.count_chunks(t) == 1
        assert store.document_owner(docs[0].id) == t  # the one unscoped read, by design
        assert store.find_document(other, source=f"{t}.txt") is None
    assert set(store.tenants()) == {A, B}
    assert queue.pending() == 2 and queue.pending(A) == 1
    convs = SqlConversations(world.app)
    for t, other in ((A, B), (B, A)):
        assert [c.id for c in convs.list_conversations(t, user_id=None, include_shared=True)] == []
        assert convs.get_turn(t, f"turn-{t}").conversation_id == f"conv-{t}"
        with pytest.raises(NotFound):
            convs.get_turn(t, f"turn-{other}")
        assert [f.answer_id for f in convs.feedback(t)] == [f"turn-{t}"]
        assert convs.analytics(t, datetime(2000, 1, 1, tzinfo=UTC)).answers == 1
    graph = SqlGraphStore(world.app)
    for t, other in ((A, B), (B, A)):  # the graph's reads, as the restricted role
        seeds = graph.match_entities(t, ["river authority", "ra"], limit=5)
        assert len(seeds) == 1
        hood = graph.neighbourhood(t, seeds, hops=2, max_edges=5, max_chunks=5)
        assert {r.target for r in hood.relations} == {f"Delta {t}"}
        assert graph.stats(t).entities == 2
        assert graph.neighbourhood(other, seeds, hops=2, max_edges=5, max_chunks=5).chunks == []
        assert graph.cached_extractions(t, ["key"]).keys() == {"key"}
    assert graph.pending_documents(10) == []  # the system scope's: both built
    # A read that names no tenant sees nothing, whatever its WHERE clause says.
    assert world.app.run_read(lambda c: c.execute(select(documents)).all()) == []
    assert len(world.app.run_read(lambda c: c.execute(select(documents)).all(), A)) == 2
    assert len(world.app.run_read(lambda c: c.execute(select(documents)).all(), SYSTEM)) == 4


# ------------------------------------------------------------------ the scope helpers


def _settings(conn: Connection) -> tuple[str | None, str | None]:
    row = conn.exec_driver_sql(
        "SELECT current_setting('ragd.tenant_id', true), current_setting('ragd.system', true)"
    ).one()
    return row[0] or None, row[1] if row[1] == "on" else None


def test_scope_follows_the_transaction_and_never_leaks_the_bypass(pg_url: str) -> None:  # noqa: F811
    db = Database(pg_url)
    try:
        migrate.upgrade(db)
        store = SqlStore(db)
        for t in (A, B):
            store.ensure_tenant(t)
            with store.transaction() as tx:
                store.create_document(tx, t, NewDocument("s", "T", "text/plain", "h", 1, {}))
        with db.write() as tx:
            assert _settings(tx) == (None, None) and _count(tx, "documents") == 0
            conn = scoped(tx, A)
            assert _settings(conn) == (A, None) and _count(conn, "documents") == 1
            with system_scope(tx) as sys_conn:
                assert _settings(sys_conn) == (None, "on") and _count(sys_conn, "documents") == 2
            assert _settings(tx) == (A, None) and rls.current_scope(tx) == A
            # A savepoint rolled back undoes a scope set inside it; the next call re-sends.
            with tx.begin_nested() as sp:
                scoped(tx, B)
                assert _settings(tx) == (B, None)
                sp.rollback()
            assert _settings(tx) == (A, None)
            scoped(tx, A)
            assert _settings(tx) == (A, None)
            with system_scope(tx):
                pass
            assert _settings(tx) == (A, None)
        with db.write() as tx:  # system scope taken in an unscoped transaction: back to none
            with system_scope(tx):
                pass
            assert _settings(tx) == (None, None) and _count(tx, "documents") == 0
        for _ in range(3):  # pooled connections start every transaction unscoped
            with db.read() as conn:
                assert _settings(conn) == (None, None) and _count(conn, "documents") == 0
    finally:
        db.dispose()


def test_scope_is_not_sent_twice_in_one_transaction(pg_url: str) -> None:  # noqa: F811
    db = Database(pg_url)
    sent: list[str] = []
    try:

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count_sets(_conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
            if "set_config('ragd.tenant_id'" in statement:
                sent.append(statement)

        with db.write(A) as tx:
            for _ in range(5):
                scoped(tx, A)
        assert len(sent) == 1
        with db.write() as tx:
            scoped(tx, A)
            scoped(tx, B)
            scoped(tx, B)
        assert len(sent) == 3
    finally:
        db.dispose()


def test_sqlite_needs_no_scope(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/r.db")
    try:
        migrate.upgrade(db)
        with db.write() as tx:
            assert scoped(tx, A) is tx
        assert db.run_read(lambda c: c.execute(select(documents)).all(), A) == []
    finally:
        db.dispose()


def test_owner_without_force_would_bypass(world: World) -> None:
    """Why FORCE: the owner of a table with RLS merely enabled is exempt from it."""
    with _raw(world.owner) as conn, conn.begin() as tx:
        conn.exec_driver_sql(f'CREATE ROLE "{world.schema}_o" NOLOGIN NOSUPERUSER NOBYPASSRLS')
        conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{world.schema}" TO "{world.schema}_o"')
        conn.exec_driver_sql(f'ALTER TABLE documents OWNER TO "{world.schema}_o"')
        conn.exec_driver_sql(f'SET LOCAL ROLE "{world.schema}_o"')
        assert _count(conn, "documents") == 0  # FORCE: the owner is held to the policies
        conn.exec_driver_sql("RESET ROLE")
        conn.exec_driver_sql("ALTER TABLE documents NO FORCE ROW LEVEL SECURITY")
        conn.exec_driver_sql(f'SET LOCAL ROLE "{world.schema}_o"')
        assert _count(conn, "documents") == 4  # without it, everything
        tx.rollback()  # the role, the owner and FORCE all go back
