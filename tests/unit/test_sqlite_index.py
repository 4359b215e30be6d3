"""SqliteIndex behaviour that the port contract leaves to the adapter.

Error translation, the FTS5 query builder and input validation; ranking, filters and
atomicity are covered for every adapter by tests/contract/test_index_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlean  # type: ignore[import-untyped]

from ragd.adapters.index.checks import MAX_K
from ragd.adapters.index.sqlite import SqliteIndex
from ragd.adapters.index.sqlite.fts import fts_match_expression
from ragd.adapters.index.words import MAX_QUERY_TERMS, STOPWORDS
from ragd.adapters.sql import database as database_module
from ragd.adapters.sql.database import Database
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.ports.index import IndexQuery
from ragd.services.container import build_index
from tests.conftest import make_settings

SPEC = EmbeddingSpec("test-model", 4)
T = TenantId("t1")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/ragd.db")
    yield database
    database.dispose()


@pytest.fixture
def index(db: Database) -> SqliteIndex:
    ix = SqliteIndex(db, SPEC)
    ix.ensure_ready()
    return ix


def entry(chunk_id: str, vector: list[float], document_id: str = "d") -> IndexEntry:
    return IndexEntry(chunk_id, document_id, "src", "", "text", np.asarray(vector, np.float32))


def test_match_expression_quotes_every_term_and_ors_them() -> None:
    assert fts_match_expression("The Running of the Bulls") == '"running" OR "bulls"'


def test_match_expression_dedupes_and_drops_syntax() -> None:
    text = 'title:cat AND "cat" NEAR(dog*) -cat ^dog'
    assert fts_match_expression(text) == '"title" OR "cat" OR "near" OR "dog"'


def test_match_expression_keeps_unicode_words() -> None:
    assert fts_match_expression("Café crème, 猫!") == '"café" OR "crème" OR "猫"'


@pytest.mark.parametrize("text", ["", "the of and", "?!*()\"'"])
def test_match_expression_none_without_terms(text: str) -> None:
    assert fts_match_expression(text) is None


def test_match_expression_caps_terms() -> None:
    expr = fts_match_expression(" ".join(f"w{i}" for i in range(200)))
    assert expr is not None
    assert expr.count(" OR ") == MAX_QUERY_TERMS - 1


def test_search_before_ensure_ready_is_config_error(db: Database) -> None:
    ix = SqliteIndex(db, SPEC)
    assert ix.stored_spec() is None
    with pytest.raises(ConfigError, match="reindex"):
        ix.count(T)


def test_locked_database_is_backend_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_MS", 50)
    db = Database(f"sqlite:///{tmp_path}/locked.db")
    ix = SqliteIndex(db, SPEC)
    ix.ensure_ready()
    # The holder must use the same SQLite library as the Database: two copies of SQLite
    # in one process do not see each other's POSIX locks (stdlib sqlite3 here would not).
    holder = sqlean.connect(str(tmp_path / "locked.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BackendUnavailable) as err:
            ix.rebuild()
        assert err.value.retryable
        with pytest.raises(BackendUnavailable):
            ix.ensure_ready()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.dispose()


def test_chunk_id_taken_by_another_tenant_is_invalid_request(
    index: SqliteIndex, db: Database
) -> None:
    with db.write() as tx:
        index.upsert_document(tx, T, "d", [entry("same", [1, 0, 0, 0])])
    with pytest.raises(InvalidRequest, match="unique"), db.write() as tx:
        index.upsert_document(tx, TenantId("t2"), "d", [entry("same", [1, 0, 0, 0])])
    assert index.count(T) == 1
    assert index.count(TenantId("t2")) == 0


@pytest.mark.parametrize(
    "entries",
    [
        [entry("a", [1, 0, 0, 0]), entry("a", [0, 1, 0, 0])],
        [entry("a", [float("nan"), 0, 0, 0])],
        [entry("a", [0, 0, 0, 0])],
        [entry("a", [1, 0, 0, 0], document_id="other")],
    ],
    ids=["duplicate-id", "nan", "zero", "wrong-document"],
)
def test_bad_entries_are_invalid_request(
    index: SqliteIndex, db: Database, entries: list[IndexEntry]
) -> None:
    with pytest.raises(InvalidRequest), db.write() as tx:
        index.upsert_document(tx, T, "d", entries)
    assert index.count(T) == 0


def test_k_above_vec0_limit_is_invalid_request(index: SqliteIndex) -> None:
    with pytest.raises(InvalidRequest, match=str(MAX_K)):
        index.search(T, IndexQuery("x", None, mode="sparse", k=MAX_K + 1))


def test_upsert_needs_the_sql_store_transaction(index: SqliteIndex) -> None:
    with pytest.raises(TypeError, match="Connection"):
        index.upsert_document(object(), T, "d", [])


def test_read_connections_get_the_scan_pragmas(index: SqliteIndex) -> None:
    index.count(T)
    with index._read() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar_one() > 0
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -32768


def test_container_builds_the_sqlite_index(db: Database, tmp_path: Path) -> None:
    ix, sync = build_index(make_settings(tmp_path / "data"), db, SPEC)
    assert isinstance(ix, SqliteIndex)
    assert ix.spec == SPEC
    assert sync is None  # it lives in the Store's database: no outbox to drain
    with pytest.raises(ConfigError):
        SqliteIndex(db, SPEC, title_weight=-1)


def test_title_weight_lifts_title_matches(db: Database) -> None:
    heavy = SqliteIndex(db, SPEC, title_weight=10.0)
    heavy.ensure_ready()
    v = np.asarray([1, 0, 0, 0], np.float32)
    with db.write() as tx:
        heavy.upsert_document(
            tx,
            T,
            "d",
            [
                IndexEntry("in-title", "d", "s", "otter", "a river animal", v),
                IndexEntry("in-text", "d", "s", "animals", "otter otter river", v),
            ],
        )
    hits = heavy.search(T, IndexQuery("otter", None, mode="sparse"))
    assert [h.chunk_id for h in hits] == ["in-title", "in-text"]
    flat = SqliteIndex(db, SPEC, title_weight=1.0)
    hits = flat.search(T, IndexQuery("otter", None, mode="sparse"))
    assert [h.chunk_id for h in hits] == ["in-text", "in-title"]


def test_module_keeps_stopwords_compact() -> None:
    assert 100 <= len(STOPWORDS) <= 250
    assert {"the", "of", "and", "in", "is"} <= STOPWORDS


def test_hybrid_failure_on_either_side_is_translated(db: Database) -> None:
    ix = SqliteIndex(db, SPEC)
    query = IndexQuery("otter", np.asarray([1, 0, 0, 0], np.float32), mode="hybrid")
    with pytest.raises(ConfigError):
        ix.search(T, query)
