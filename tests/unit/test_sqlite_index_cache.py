"""SqliteIndex's in-memory search: coherence with the database, equality with SQL search.

Two ``Database`` objects on one file stand for two processes (an API server and a
worker): nothing but the database connects them, exactly like separate processes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragd.adapters.index.sqlite import SqliteIndex, terms, versions
from ragd.adapters.index.sqlite.memory import blas, patch, snapshot, vectors
from ragd.adapters.index.tokens import TOKENIZE, Fts5Tokenizer
from ragd.adapters.sql.database import Database
from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId
from ragd.ports.index import IndexQuery

DIM = 8
SPEC = EmbeddingSpec("test-model", DIM)
T = TenantId("t1")
OTHER = TenantId("t2")
WORDS = (
    "cat cats dog dogs running runner walrus narwhal tide moon spring river otter café "
    "genève naïve protein proteins cell cells gene expression tumour growth x² 42 foo_bar"
).split()


@pytest.fixture
def path(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ragd.db"


@pytest.fixture
def api(path: str) -> Iterator[tuple[Database, SqliteIndex]]:
    """The searching 'process'."""
    db = Database(path)
    index = SqliteIndex(db, SPEC)
    index.ensure_ready()
    yield db, index
    db.dispose()


@pytest.fixture
def worker(path: str, api: tuple[Database, SqliteIndex]) -> Iterator[tuple[Database, SqliteIndex]]:
    """The writing 'process', on the same file, with its own engine and adapter."""
    db = Database(path)
    index = SqliteIndex(db, SPEC)
    index.ensure_ready()
    yield db, index
    db.dispose()


def make_doc(doc: str, n: int, seed: int, **meta: Any) -> list[IndexEntry]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    return [
        IndexEntry(
            chunk_id=f"{doc}-c{i}",
            document_id=doc,
            source=f"s3://{doc}.pdf",
            title=pick.choice(["", "Cats", "Tides and the Moon", "Gene expression"]),
            text=" ".join(pick.choices(WORDS, k=pick.randint(3, 12))),
            vector=rng.standard_normal(DIM).astype(np.float32),
            metadata={"i": i, "lang": pick.choice(["en", "de"]), **meta},
        )
        for i in range(n)
    ]


def put(db: Database, index: SqliteIndex, tenant: TenantId, doc: str, n: int, seed: int) -> None:
    with db.write() as tx:
        index.upsert_document(tx, tenant, doc, make_doc(doc, n, seed))


def delete(db: Database, index: SqliteIndex, tenant: TenantId, doc: str) -> None:
    with db.write() as tx:
        index.delete_document(tx, tenant, doc)


def queries(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    pick = random.Random(seed)
    rng = np.random.default_rng(seed)
    return [
        (" ".join(pick.choices(WORDS, k=3)), rng.standard_normal(DIM).astype(np.float32))
        for _ in range(8)
    ]


def search_all(
    index: SqliteIndex,
    tenant: TenantId,
    modes: tuple[str, ...] = ("dense", "sparse", "hybrid"),
    **kw: Any,
) -> list[list[ScoredChunk]]:
    out = []
    for text, vec in queries():
        for mode in modes:
            q = IndexQuery(text, vec, mode=mode, k=25, candidates=40, **kw)  # type: ignore[arg-type]
            out.append(index.search(tenant, q))
    return out


def same_results(a: list[list[ScoredChunk]], b: list[list[ScoredChunk]]) -> None:
    """Same chunks in the same order; scores equal up to float32 (vec0's cosine)."""
    assert len(a) == len(b)
    for hits_a, hits_b in zip(a, b, strict=True):
        assert [h.chunk_id for h in hits_a] == [h.chunk_id for h in hits_b]
        for x, y in zip(hits_a, hits_b, strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-6)
            assert (x.dense_rank, x.sparse_rank) == (y.dense_rank, y.sparse_rank)


def stamp(db: Database, tenant: TenantId) -> versions.Stamp:
    with db.read() as conn:
        return versions.stamp(conn, tenant)


def ids(hits: list[ScoredChunk]) -> set[str]:
    return {h.chunk_id for h in hits}


# ------------------------------------------------------------------ coherence


def test_writes_through_one_instance_are_seen_by_another(api: Any, worker: Any) -> None:
    _, api_ix = api
    w_db, w_ix = worker
    for d in range(6):
        put(w_db, w_ix, T, f"d{d}", 4, seed=d)
    vec = np.ones(DIM, dtype=np.float32)
    everything = IndexQuery("cat", vec, mode="dense", k=100)
    assert len(api_ix.search(T, everything)) == 24  # loaded into api's memory
    put(w_db, w_ix, T, "d9", 3, seed=9)  # added elsewhere: patched in
    assert len(api_ix.search(T, everything)) == 27
    delete(w_db, w_ix, T, "d2")  # deleted elsewhere: gone at once
    got = ids(api_ix.search(T, everything))
    assert len(got) == 23 and not any(c.startswith("d2-") for c in got)
    for mode in ("sparse", "hybrid"):
        for text, qvec in queries():
            hits = api_ix.search(T, IndexQuery(text, qvec, mode=mode, k=100, candidates=100))
            assert not any(h.chunk_id.startswith("d2-") for h in hits)


def test_replaced_document_shows_only_its_new_chunks(api: Any, worker: Any) -> None:
    _, api_ix = api
    w_db, w_ix = worker
    old = [
        IndexEntry(f"old-{i}", "doc", "s", "", "obsolete walrus", np.ones(DIM, np.float32), {})
        for i in range(3)
    ]
    with w_db.write() as tx:
        w_ix.upsert_document(tx, T, "doc", old)
    assert ids(api_ix.search(T, IndexQuery("walrus", None, mode="sparse"))) == {
        "old-0",
        "old-1",
        "old-2",
    }
    new = [IndexEntry("new-0", "doc", "s", "", "fresh narwhal", np.ones(DIM, np.float32), {})]
    with w_db.write() as tx:
        w_ix.upsert_document(tx, T, "doc", new)
    assert api_ix.search(T, IndexQuery("walrus", None, mode="sparse")) == []
    assert ids(api_ix.search(T, IndexQuery("narwhal walrus", None, mode="sparse"))) == {"new-0"}
    dense = api_ix.search(T, IndexQuery("", np.ones(DIM, np.float32), mode="dense", k=10))
    assert ids(dense) == {"new-0"}


def test_rolled_back_write_changes_nothing_anywhere(api: Any, worker: Any) -> None:
    api_db, api_ix = api
    w_db, w_ix = worker
    put(w_db, w_ix, T, "d0", 3, seed=0)
    before = search_all(api_ix, T)
    version = stamp(api_db, T).version
    with pytest.raises(RuntimeError), w_db.write() as tx:
        w_ix.delete_document(tx, T, "d0")
        raise RuntimeError("boom")
    assert stamp(api_db, T).version == version
    same_results(search_all(api_ix, T), before)


def test_rebuild_elsewhere_empties_this_cache(api: Any, worker: Any) -> None:
    api_db, api_ix = api
    w_db, w_ix = worker
    put(w_db, w_ix, T, "d0", 3, seed=0)
    assert api_ix.search(T, IndexQuery("", np.ones(DIM, np.float32), mode="dense"))
    epoch = stamp(api_db, T).epoch
    w_ix.rebuild()
    assert stamp(api_db, T).epoch != epoch
    assert api_ix.search(T, IndexQuery("", np.ones(DIM, np.float32), mode="dense")) == []
    put(w_db, w_ix, T, "d1", 2, seed=1)  # versions restart after a rebuild: epoch tells
    assert len(api_ix.search(T, IndexQuery("", np.ones(DIM, np.float32), mode="dense"))) == 2


def test_every_write_bumps_the_tenant_version_and_logs_its_rows(api: Any) -> None:
    db, index = api
    assert stamp(db, T).version == 0
    put(db, index, T, "d0", 3, seed=0)
    assert stamp(db, T).version == 1
    put(db, index, T, "d0", 2, seed=1)  # replace: 3 removed + 2 added rows logged
    assert stamp(db, T).version == 2
    put(db, index, OTHER, "o0", 1, seed=2)  # another tenant's counter
    assert stamp(db, T).version == 2
    assert stamp(db, OTHER).version == 1
    delete(db, index, T, "missing")  # nothing changed: no new version
    assert stamp(db, T).version == 2
    with db.write() as tx:
        index.upsert_document(tx, T, "empty", [])
    assert stamp(db, T).version == 2
    with db.read() as conn:
        assert sorted(versions.changed_rowids(conn, T, 1)) == [1, 2, 3]  # rowids are reused
    delete(db, index, T, "d0")
    assert stamp(db, T).version == 3
    with db.read() as conn:
        assert sorted(versions.changed_rowids(conn, T, 2)) == [1, 2]


def test_cache_older_than_the_log_reloads(
    api: Any, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions, "LOG_VERSIONS", 5)
    api_db, api_ix = api
    w_db, w_ix = worker
    put(w_db, w_ix, T, "seed", 2, seed=0)
    vec = np.ones(DIM, np.float32)
    assert len(api_ix.search(T, IndexQuery("", vec, mode="dense", k=500))) == 2
    for d in range(120):  # trims the log past the api's cached version
        put(w_db, w_ix, T, f"d{d}", 1, seed=d)
    assert stamp(api_db, T).log_floor > 1
    assert len(api_ix.search(T, IndexQuery("", vec, mode="dense", k=500))) == 122


# ------------------------------------------------------------------ equal to SQL search


def _corpus(db: Database, index: SqliteIndex, docs: int = 30) -> None:
    for d in range(docs):
        put(db, index, T, f"d{d:02d}", 1 + d % 5, seed=d)


def test_memory_search_equals_sql_search(path: str, api: Any) -> None:
    db, index = api
    _corpus(db, index)
    sql = SqliteIndex(db, SPEC, cache_bytes=0)
    same_results(search_all(index, T), search_all(sql, T))
    for filters in (
        SearchFilters(document_ids=("d03", "d07", "nope")),
        SearchFilters(sources=("s3://d11.pdf",)),
        SearchFilters(metadata={"lang": "de"}),
        SearchFilters(metadata={"i": 1}),
        SearchFilters(metadata={"i": 1.0, "lang": "en"}),
        SearchFilters(metadata={"i": True}),
        SearchFilters(metadata={"missing": None}),
        SearchFilters(metadata={"lang": None}),
    ):
        same_results(search_all(index, T, filters=filters), search_all(sql, T, filters=filters))


def test_patched_cache_equals_a_fresh_load(path: str, api: Any, worker: Any) -> None:
    """Many small writes and deletes: segments merged, positions compacted, still exact.

    Also the BM25 statistics: live rows only (N, document frequencies, average length).
    """
    api_db, api_ix = api
    w_db, w_ix = worker
    _corpus(w_db, w_ix, docs=20)
    search_all(api_ix, T)  # loaded
    pick = random.Random(5)
    for step in range(60):
        doc = f"d{pick.randrange(40):02d}"
        if pick.random() < 0.4:
            delete(w_db, w_ix, T, doc)
        else:
            put(w_db, w_ix, T, doc, pick.randint(1, 6), seed=100 + step)
        if step % 3 == 0:
            search_all(api_ix, T)  # patch now and then
    patched = search_all(api_ix, T)
    snap = api_ix._cache._snapshots[T]
    assert snap.n_alive == api_ix.count(T)
    fresh = SqliteIndex(Database(path), SPEC)
    same_results(patched, search_all(fresh, T))
    # FTS5 never takes deleted rows out of its BM25 totals (N, average length), so after
    # deletions only the dense rankings can be compared with the SQL path.
    sql = SqliteIndex(api_db, SPEC, cache_bytes=0)
    same_results(search_all(api_ix, T, ("dense",)), search_all(sql, T, ("dense",)))


def test_compaction_and_segment_merging(path: str, api: Any, worker: Any) -> None:
    _, api_ix = api
    w_db, w_ix = worker
    for d in range(12):
        put(w_db, w_ix, T, f"d{d}", 150, seed=d)
    search_all(api_ix, T)
    for d in range(10):  # one patch per write
        put(w_db, w_ix, T, f"n{d}", 2, seed=50 + d)
        api_ix.search(T, IndexQuery("cat", None, mode="sparse"))
    assert len(api_ix._cache._snapshots[T].segments) <= patch.MAX_SEGMENTS
    for d in range(8):  # 1200 of 1820 positions dead: compacted
        delete(w_db, w_ix, T, f"d{d}")
    search_all(api_ix, T)
    snap = api_ix._cache._snapshots[T]
    assert snap.n == snap.n_alive == 620
    same_results(search_all(api_ix, T), search_all(SqliteIndex(Database(path), SPEC), T))


def test_tenants_are_cached_apart(api: Any) -> None:
    db, index = api
    put(db, index, T, "same", 3, seed=1)
    put(db, index, OTHER, "same-other", 2, seed=1)
    vec = np.ones(DIM, np.float32)
    assert ids(index.search(T, IndexQuery("cat", vec, k=50))) <= {f"same-c{i}" for i in range(3)}
    assert ids(index.search(OTHER, IndexQuery("", vec, mode="dense", k=50))) == {
        "same-other-c0",
        "same-other-c1",
    }
    assert index.search(TenantId("nobody"), IndexQuery("cat", vec)) == []


# ------------------------------------------------------------------ budget


def test_tenant_beyond_the_budget_is_searched_through_sql(api: Any) -> None:
    db, _ = api
    small = SqliteIndex(db, SPEC, cache_bytes=snapshot.estimate_bytes(10, DIM))
    _corpus(db, small)  # 90 chunks: too big
    results = search_all(small, T)
    assert small._cache.nbytes == 0
    same_results(results, search_all(SqliteIndex(db, SPEC, cache_bytes=0), T))


def test_least_recently_searched_tenant_is_evicted(api: Any) -> None:
    db, probe = api
    put(db, probe, T, "a", 20, seed=1)
    put(db, probe, OTHER, "b", 20, seed=2)
    vec = np.ones(DIM, np.float32)
    probe.search(T, IndexQuery("", vec, mode="dense"))
    one = probe._cache.nbytes
    index = SqliteIndex(db, SPEC, cache_bytes=int(1.5 * one))  # room for one tenant
    index.search(T, IndexQuery("", vec, mode="dense"))
    index.search(OTHER, IndexQuery("", vec, mode="dense"))
    assert list(index._cache._snapshots) == [OTHER]
    assert len(index.search(T, IndexQuery("", vec, mode="dense", k=50))) == 20


# ------------------------------------------------------------------ legacy indexes


def test_index_without_stored_terms_is_backfilled_from_fts5(path: str, api: Any) -> None:
    db, index = api
    _corpus(db, index)
    before = search_all(index, T)
    with db.write() as conn:  # what an index written before index_terms looks like
        conn.exec_driver_sql("DELETE FROM index_terms")
        conn.exec_driver_sql("DELETE FROM index_vocab")
        conn.exec_driver_sql("DELETE FROM index_meta WHERE key = 'terms_complete'")
    epoch = stamp(db, T).epoch
    reopened = SqliteIndex(db, SPEC)
    reopened.ensure_ready()
    assert stamp(db, T).epoch != epoch  # every process reloads
    with db.read() as conn:
        assert terms.missing_count(conn) == 0
    same_results(search_all(reopened, T), before)
    same_results(search_all(index, T), before)


def test_rows_without_terms_fall_back_to_fts5(api: Any) -> None:
    db, index = api
    _corpus(db, index)
    with db.write() as conn:
        conn.exec_driver_sql("DELETE FROM index_terms WHERE rowid % 2 = 0")
    fresh = SqliteIndex(db, SPEC)
    results = search_all(fresh, T)
    assert not fresh._cache._snapshots[T].sparse_ok
    same_results(results, search_all(SqliteIndex(db, SPEC, cache_bytes=0), T))


# ------------------------------------------------------------------ parts


def test_phrase_words_are_ranked_by_fts5(api: Any) -> None:
    db, index = api
    _corpus(db, index)
    sql = SqliteIndex(db, SPEC, cache_bytes=0)
    for text in ("foo_bar", "foo_bar cats", "_ cat"):
        q = IndexQuery(text, None, mode="sparse", k=50)
        assert index.search(T, q) == sql.search(T, q)


def test_tokenizer_matches_fts5_on_whole_texts() -> None:
    import sqlean  # type: ignore[import-untyped]

    pick = random.Random(7)
    texts = [
        (pick.choice(["", "Café Crème", "Tides"]), " ".join(pick.choices(WORDS, k=20)))
        for _ in range(50)
    ] + [("", ""), ("Straße ǅemal ﬁne", "naïve\u2014dash “quoted” e\u0301te 猫猫 (p<0.05)")]
    conn = sqlean.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE f USING fts5(title, text, tokenize='{TOKENIZE}')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')")
    conn.executemany(
        "INSERT INTO f (rowid, title, text) VALUES (?, ?, ?)",
        [(i, title, text) for i, (title, text) in enumerate(texts)],
    )
    expected: list[dict[str, list[int]]] = [{} for _ in texts]
    for doc, term, col in conn.execute("SELECT doc, term, col FROM v"):
        expected[doc].setdefault(term, [0, 0])[0 if col == "title" else 1] += 1
    tokenizer = Fts5Tokenizer(cache_size=64)  # small: clears itself on the way
    got = tokenizer.chunks(texts)
    for chunk, want in zip(got, expected, strict=True):
        assert chunk.frequencies == {t: (a, b) for t, (a, b) in want.items()}
        assert chunk.length == sum(a + b for a, b in want.values())
    assert tokenizer.query_word("running") == ("run",)
    assert tokenizer.query_word("foo_bar") == ("foo", "bar")
    assert tokenizer.query_word("_") == ()


def test_vec0_bulk_read_equals_point_reads(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    db, index = api
    _corpus(db, index)
    for d in ("d01", "d05", "d06"):
        delete(db, index, T, d)
    with db.read() as conn:
        rowids = np.array(
            [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT rowid FROM index_chunks WHERE tenant_id = ? ORDER BY rowid", (T,)
                )
            ],
            dtype=np.int64,
        )
        bulk = np.zeros((len(rowids), DIM), np.float32)
        point = np.zeros((len(rowids), DIM), np.float32)
        assert vectors._read_shadow(conn, T, rowids, bulk)
        assert vectors.read_by_rowid(conn, rowids.tolist(), point)
        assert np.array_equal(bulk, point)
        assert not vectors._read_shadow(conn, T, rowids[1:], bulk)  # an extra vector: refused
        monkeypatch.setattr(vectors, "_read_shadow", lambda *a: False)
        fallback = np.zeros((len(rowids), DIM), np.float32)
        assert vectors.read_tenant(conn, T, rowids, fallback)
        assert np.array_equal(fallback, point)


def test_blas_limit_is_harmless() -> None:
    blas.limit_this_thread()
    assert float(np.ones(4, np.float32) @ np.ones(4, np.float32)) == 4.0
