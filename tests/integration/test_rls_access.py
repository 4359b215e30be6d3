"""Row-level security narrows documents and chunks to what a caller may read (0009).

Raw SQL as ragd's restricted role (no superuser, no BYPASSRLS, owns nothing), as in
``test_rls.py``: with the tenant set and an access scope (readable collections and the
caller's principals), a user without a grant on a collection reads 0 of its chunks and
documents; a document with an allow-list is visible only to a principal on it; without an
access scope (the worker, tenant admins) the tenant-wide view is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection

from ragd.adapters.sql import rls
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import Chunk, NewDocument
from tests.contract.conftest import (  # noqa: F401 - fixtures
    PgTestDatabase,
    pg_schema,
    pg_session_database,
    pg_url,
    with_search_path,
)
from tests.integration.test_rls import A, World, world  # noqa: F401 - the fixture

DOCS = {
    "hr": ("hr", None),
    "eng-open": ("eng", None),
    "eng-leads": ("eng", ("g:leads",)),
}


@pytest.fixture(scope="module")
def docs(world: World) -> Iterator[dict[str, str]]:  # noqa: F811
    store = SqlStore(world.app)
    out = {}
    for name, (collection, readers) in DOCS.items():
        with store.transaction() as tx:
            doc = store.create_document(
                tx,
                A,
                NewDocument(
                    f"{name}.txt",
                    name,
                    "text/plain",
                    f"h-{name}",
                    5,
                    {},
                    collection_id=collection,
                    readers=readers or (),
                ),
            )
            chunk = Chunk(f"{doc.id}:1:0", doc.id, A, 0, f"text of {name}", 0, 5, 2)
            store.replace_chunks(
                tx, A, doc.id, [chunk, Chunk(f"{doc.id}:1:1", doc.id, A, 1, "more", 5, 9, 1)]
            )
        out[name] = doc.id
    yield out


def _seen(conn: Connection, table: str, column: str = "id") -> set[str]:
    return {r[0] for r in conn.exec_driver_sql(f"SELECT {column} FROM {table}")}


def _as(world: World, collections: str | None, principals: str) -> Iterator[Connection]:  # noqa: F811
    with world.app.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL ragd.tenant_id = '{A}'")
        if collections is not None:
            conn.exec_driver_sql("SET LOCAL ragd.access = 'on'")
            conn.exec_driver_sql(f"SET LOCAL ragd.collections = '{collections}'")
            conn.exec_driver_sql(f"SET LOCAL ragd.principals = '{principals}'")
        yield conn


def _chunk_docs(conn: Connection) -> set[str]:
    return _seen(conn, "chunks", "document_id")


def test_a_user_without_a_grant_reads_no_row_of_the_collections_chunks(
    world: World,  # noqa: F811
    docs: dict[str, str],
) -> None:
    with world.owner.engine.connect() as conn:  # superuser: the rows exist
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM chunks WHERE document_id = %(d)s", {"d": docs["hr"]}
            ).scalar_one()
            == 2
        )
    # Bob may read default and eng, not hr.
    for conn in _as(world, "default,eng", "*,u:bob"):
        hr = conn.exec_driver_sql(
            "SELECT count(*) FROM chunks WHERE document_id = %(d)s", {"d": docs["hr"]}
        ).scalar_one()
        assert hr == 0
        assert docs["hr"] not in _chunk_docs(conn)
        assert docs["hr"] not in _seen(conn, "documents")
        assert docs["eng-open"] in _chunk_docs(conn)
        assert docs["eng-leads"] not in _chunk_docs(conn)  # not on the allow-list
        assert docs["eng-leads"] not in _seen(conn, "documents")
        assert _seen(conn, "documents", "collection_id") <= {"default", "eng"}
    # A member of the leads group reads the allow-listed document too.
    for conn in _as(world, "eng", "*,u:cy,g:leads"):
        assert _chunk_docs(conn) == {docs["eng-open"], docs["eng-leads"]}
    # No readable collection at all: nothing.
    for conn in _as(world, "", "*,u:bob"):
        assert _seen(conn, "chunks") == set() and _seen(conn, "documents") == set()


def test_without_an_access_scope_the_tenant_view_is_unchanged(
    world: World,  # noqa: F811
    docs: dict[str, str],
) -> None:
    for conn in _as(world, None, ""):
        assert set(docs.values()) <= _chunk_docs(conn)
        assert set(docs.values()) <= _seen(conn, "documents")


def test_apply_access_sets_the_scope_for_the_transaction_only(
    world: World,  # noqa: F811
    docs: dict[str, str],
) -> None:
    with world.app.read(A) as conn:
        rls.apply_access(conn, ("eng",), ("*", "u:bob"))
        assert _chunk_docs(conn) == {docs["eng-open"]}
        rls.apply_access(conn, ("eng", "hr"), None)  # an admin narrowed to collections
        assert _chunk_docs(conn) == {docs["eng-open"], docs["eng-leads"], docs["hr"]}
    with world.app.read(A) as conn:  # a new transaction: tenant-wide again
        assert set(docs.values()) <= _chunk_docs(conn)
    with world.app.read(A) as conn, pytest.raises(ValueError):
        rls.apply_access(conn, ("a,b",), ())


def test_hydration_reads_under_the_callers_access(
    world: World,  # noqa: F811
    docs: dict[str, str],
) -> None:
    """``Store.get_chunks(..., visible)``: the access policy in the read transaction, and
    the same rule in Python behind it."""
    from ragd.domain.access import AccessFilter

    store = SqlStore(world.app)
    ids = [f"{d}:1:0" for d in docs.values()]
    everything = store.get_chunks(A, ids)
    assert set(everything) == set(ids)
    bob = store.get_chunks(A, ids, AccessFilter(("default", "eng"), ("*", "u:bob")))
    assert {doc.id for _, doc in bob.values()} == {docs["eng-open"]}
    lead = store.get_chunks(A, ids, AccessFilter(("eng",), ("*", "g:leads")))
    assert {doc.id for _, doc in lead.values()} == {docs["eng-open"], docs["eng-leads"]}
    admin = store.get_chunks(A, ids, AccessFilter(("eng", "hr"), None))
    assert {doc.id for _, doc in admin.values()} == {
        docs["eng-open"],
        docs["eng-leads"],
        docs["hr"],
    }
