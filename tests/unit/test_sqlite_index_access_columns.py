"""The SQLite index's access columns (``collection_id``, ``readers``): written, upgraded
into an index of the previous schema in place, and used by the SQL path's filter.

The permission filter's results are the contract suite's business (every backend, both
SQLite paths); this file covers what is particular to the columns: an index file written
before they existed gets them filled from each row's payload, a process of the previous
version inserting into an upgraded file still gets them filled, a moved document's
columns follow it, and the filter restricts a tenant's rows through the covering index
instead of reading every row's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragd.adapters.index.sqlite import SqliteIndex, sql_search
from ragd.adapters.index.sqlite.filters import filter_sql
from ragd.adapters.sql.database import Database
from ragd.domain.access import AccessFilter
from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.ports.index import IndexQuery

SPEC = EmbeddingSpec("test-model", 4)
T = TenantId("t1")
OTHER = TenantId("t2")

# (chunk, document, collection, readers)
PLACED = [
    ("a0", "a", "default", ()),
    ("a1", "a", "default", ()),
    ("b0", "b", "eng", ()),
    ("c0", "c", "eng", ("u:ann", "g:hr")),
    ("d0", "d", "hr", ()),
    ("e0", "e", "hr", ("u:bob",)),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/ragd.db")
    yield database
    database.dispose()


def _entry(chunk: str, doc: str, collection: str, readers: tuple[str, ...]) -> IndexEntry:
    vec = np.ones(SPEC.dimension, np.float32)
    vec[hash(chunk) % SPEC.dimension] += 1.0
    return IndexEntry(chunk, doc, "src", "", "payroll text", vec, {"n": chunk}, collection, readers)


def _write(index: SqliteIndex, db: Database, tenant: TenantId, rows: list[tuple]) -> None:
    by_doc: dict[str, list[IndexEntry]] = {}
    for chunk, doc, collection, readers in rows:
        by_doc.setdefault(doc, []).append(_entry(f"{tenant}-{chunk}", doc, collection, readers))
    with db.write() as tx:
        for doc, entries in by_doc.items():
            index.upsert_document(tx, tenant, doc, entries)


def _search_all_modes(index: SqliteIndex, tenant: TenantId, flt: AccessFilter) -> set[str]:
    """The chunks found in each mode (they must agree); k covers the whole tenant."""
    found = []
    for mode in ("dense", "sparse", "hybrid"):
        q = IndexQuery(
            "payroll",
            np.ones(SPEC.dimension, np.float32),
            mode=mode,
            k=50,
            filters=SearchFilters(access=flt),
        )
        found.append({h.chunk_id.split("-", 1)[1] for h in index.search(tenant, q)})
    assert found[0] == found[1] == found[2]
    return found[0]


def _expected(rows: list[tuple], flt: AccessFilter) -> set[str]:
    return {
        chunk
        for chunk, _doc, collection, readers in rows
        if collection in flt.collections
        and (flt.principals is None or not readers or set(readers) & set(flt.principals))
    }


FILTERS = [
    AccessFilter(("default", "eng"), ("*", "u:ann")),
    AccessFilter(("eng", "hr"), ("*", "u:bob")),
    AccessFilter(("hr",), None),
    AccessFilter(("eng",), ("*",)),
    AccessFilter((), ("*",)),
]


def _downgrade_to_schema_2(db: Database) -> None:
    """Make the file what the previous version wrote: index_chunks without the access
    columns, their index and trigger, and ``schema_version`` 2."""
    with db.write() as conn:
        conn.exec_driver_sql("DROP TRIGGER tr_index_chunks_access")
        conn.exec_driver_sql("DROP INDEX ix_index_chunks_tenant_access")
        conn.exec_driver_sql("ALTER TABLE index_chunks DROP COLUMN readers")
        conn.exec_driver_sql("ALTER TABLE index_chunks DROP COLUMN collection_id")
        conn.exec_driver_sql("UPDATE index_meta SET value = '2' WHERE key = 'schema_version'")


def _old_insert(db: Database, tenant: TenantId, rowid: int, chunk: str, metadata: dict) -> None:
    """A row as the previous version's writer inserted it (it names no access column)."""
    with db.write() as conn:
        conn.exec_driver_sql(
            "INSERT INTO index_chunks (rowid, chunk_id, tenant_id, document_id, source,"
            " metadata) VALUES (?, ?, ?, ?, 'src', ?)",
            (rowid, f"{tenant}-{chunk}", tenant, chunk, json.dumps(metadata)),
        )
        vec = np.ones(SPEC.dimension, np.float32)
        conn.exec_driver_sql(
            "INSERT INTO vec_chunks (rowid, tenant_id, embedding) VALUES (?, ?, ?)",
            (rowid, tenant, vec.tobytes()),
        )
        conn.exec_driver_sql(
            "INSERT INTO fts_chunks (rowid, title, text) VALUES (?, '', 'payroll text')",
            (rowid,),
        )


def _columns(db: Database) -> dict[str, tuple[str | None, list[str] | None]]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT chunk_id, collection_id, readers FROM index_chunks"
        ).all()
    return {r[0]: (r[1], None if r[2] is None else json.loads(r[2])) for r in rows}


def test_new_writes_fill_the_columns_and_null_means_no_allow_list(db: Database) -> None:
    index = SqliteIndex(db, SPEC, cache_bytes=0)
    index.ensure_ready()
    _write(index, db, T, PLACED)
    cols = _columns(db)
    assert cols[f"{T}-a0"] == ("default", None)
    assert cols[f"{T}-c0"] == ("eng", ["g:hr", "u:ann"])
    assert cols[f"{T}-e0"] == ("hr", ["u:bob"])


@pytest.mark.parametrize("cache_bytes", [0, None], ids=["sql", "memory"])
def test_an_index_of_the_previous_schema_is_upgraded_in_place(
    db: Database, cache_bytes: int | None
) -> None:
    old = SqliteIndex(db, SPEC, cache_bytes=0)
    old.ensure_ready()
    _write(old, db, T, PLACED)
    _write(old, db, OTHER, [("z0", "z", "eng", ())])
    _downgrade_to_schema_2(db)
    # A chunk written before collections existed: no access keys in its payload at all.
    _old_insert(db, T, 900, "legacy", {"n": "legacy"})
    rows = [*PLACED, ("legacy", "legacy", "default", ())]

    upgraded = SqliteIndex(db, SPEC, cache_bytes=cache_bytes)
    upgraded.ensure_ready()
    cols = _columns(db)
    assert cols[f"{T}-legacy"] == ("default", None)
    assert cols[f"{T}-c0"] == ("eng", ["g:hr", "u:ann"])
    assert cols[f"{OTHER}-z0"] == ("eng", None)
    with db.read() as conn:
        version = conn.exec_driver_sql(
            "SELECT value FROM index_meta WHERE key = 'schema_version'"
        ).scalar_one()
    assert version == "3"
    for flt in FILTERS:
        assert _search_all_modes(upgraded, T, flt) == _expected(rows, flt), flt
    # Opening it again changes nothing (the upgrade runs once).
    SqliteIndex(db, SPEC).ensure_ready()
    assert _columns(db) == cols


def test_a_previous_version_inserting_into_an_upgraded_file_gets_its_columns(
    db: Database,
) -> None:
    index = SqliteIndex(db, SPEC, cache_bytes=0)
    index.ensure_ready()
    _old_insert(db, T, 901, "o1", {"n": 1, "_ragd_c": "hr", "_ragd_r": ["u:bob"]})
    _old_insert(db, T, 902, "o2", {"n": 2, "_ragd_c": "eng"})
    _old_insert(db, T, 903, "o3", {"n": 3, "_ragd_r": []})
    cols = _columns(db)
    assert cols[f"{T}-o1"] == ("hr", ["u:bob"])
    assert cols[f"{T}-o2"] == ("eng", None)
    assert cols[f"{T}-o3"] == ("default", None)
    assert _search_all_modes(index, T, AccessFilter(("hr", "eng"), ("*",))) == {"o2"}


def test_a_moved_document_and_a_changed_allow_list_follow_in_the_columns(db: Database) -> None:
    """A move or an allow-list change re-upserts the document's entries
    (``PermissionService.place_document``): the filter sees the new placement only."""
    index = SqliteIndex(db, SPEC, cache_bytes=0)
    index.ensure_ready()
    _write(index, db, T, PLACED)
    eng = AccessFilter(("eng",), ("*",))
    hr_bob = AccessFilter(("hr",), ("*", "u:bob"))
    assert "b0" in _search_all_modes(index, T, eng)
    _write(index, db, T, [("b0", "b", "hr", ("u:bob",))])
    assert _columns(db)[f"{T}-b0"] == ("hr", ["u:bob"])
    assert "b0" not in _search_all_modes(index, T, eng)
    assert "b0" in _search_all_modes(index, T, hr_bob)
    _write(index, db, T, [("b0", "b", "hr", ())])  # allow-list cleared
    assert _columns(db)[f"{T}-b0"] == ("hr", None)
    assert "b0" in _search_all_modes(index, T, AccessFilter(("hr",), ("*",)))


def test_dense_scan_restricted_by_the_filter_is_exact(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The KNN restricted by a subquery over the access columns (the path a ~20 % share
    of a big tenant takes), forced here on a small one."""
    monkeypatch.setattr(sql_search, "POINT_READ_LIMIT", 0)
    monkeypatch.setattr(sql_search, "EXACT_FILTER_LIMIT", 0)
    monkeypatch.setattr(sql_search, "OVERFETCH_MAX_FACTOR", 0)
    index = SqliteIndex(db, SPEC, cache_bytes=0)
    index.ensure_ready()
    _write(index, db, T, PLACED)
    for flt in FILTERS:
        assert _search_all_modes(index, T, flt) == _expected(PLACED, flt), flt


def test_the_restriction_reads_the_covering_index_not_the_payloads(db: Database) -> None:
    index = SqliteIndex(db, SPEC, cache_bytes=0)
    index.ensure_ready()
    _write(index, db, T, PLACED)
    where, params = filter_sql(SearchFilters(access=FILTERS[0]))
    with db.read() as conn:
        conn.exec_driver_sql("ANALYZE")
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT c.rowid FROM index_chunks c"
                f" WHERE c.tenant_id = ?{where}",
                (T, *params),
            ).all()
        )
    assert "COVERING INDEX ix_index_chunks_tenant_access" in plan, plan
