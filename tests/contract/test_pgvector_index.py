"""What the pgvector Index promises beyond the shared Index contract.

- The approximate path (HNSW with pgvector 0.8 iterative scans) stays accurate when one
  graph holds several tenants and a metadata filter: recall@10 against exact search.
- ``version(tenant)`` moves with every committed write and never repeats.
- ``similarity`` is the cosine similarity for every chunk the dense side scored.
- A text search scores at most ``sparse_max_scored`` rows: all rows holding the query's
  rarest words while they fit, then the next word's rows up to the budget; each is scored
  on all of the words, exactly as an unbounded search scores it.

The contract suite only ever sees exact search (its tenants are below ``exact_below``);
here ``exact_below=0`` forces the HNSW path.

- A tenant above ``exact_below`` rows gets an HNSW graph of its own (``maintain``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from ragd.adapters.index.pgvector import PgVectorIndex
from ragd.adapters.index.pgvector import sql as pgvector_sql
from ragd.adapters.sql.database import Database, normalise_url
from ragd.domain.filters import SearchFilters
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId
from ragd.errors import ConfigError
from ragd.ports.index import IndexQuery

DIM = 32
SPEC = EmbeddingSpec("test-model", DIM)


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    yield database
    database.dispose()


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _load(db: Database, index: PgVectorIndex, tenant: str, vecs: np.ndarray) -> list[IndexEntry]:
    entries = [
        IndexEntry(
            f"{tenant}-{i:05d}",
            f"{tenant}-doc-{i // 250}",
            "src",
            "",
            f"words {i % 7}",
            vecs[i],
            {"lang": "de" if i % 10 == 0 else "en"},
        )
        for i in range(len(vecs))
    ]
    for start in range(0, len(entries), 250):
        batch = entries[start : start + 250]
        with db.write() as tx:
            index.upsert_document(tx, TenantId(tenant), batch[0].document_id, batch)
    return entries


def _exact_top(
    entries: list[IndexEntry], query: np.ndarray, k: int, keep: Callable[[IndexEntry], bool]
) -> list[str]:
    kept = [e for e in entries if keep(e)]
    sims = np.array([float(e.vector @ query) for e in kept])
    order = np.argsort(-sims, kind="stable")[:k]
    return [kept[i].chunk_id for i in order]


@pytest.fixture
def shared_graph(db: Database) -> tuple[PgVectorIndex, dict[str, list[IndexEntry]]]:
    """Three tenants of very different sizes in one HNSW graph (5% / 15% / 80%)."""
    index = PgVectorIndex(db, SPEC, exact_below=0, ef_search=40)
    index.ensure_ready()
    rng = np.random.default_rng(2024)
    sizes = {"small": 250, "medium": 750, "big": 4000}
    return index, {t: _load(db, index, t, _unit(rng, n)) for t, n in sizes.items()}


def test_filtered_approximate_search_keeps_recall(
    shared_graph: tuple[PgVectorIndex, dict[str, list[IndexEntry]]],
) -> None:
    index, corpus = shared_graph
    queries = _unit(np.random.default_rng(7), 25)
    cases = [(tenant, SearchFilters(), lambda e: True) for tenant in corpus] + [
        (
            tenant,
            SearchFilters(metadata={"lang": "de"}),  # 10% of the tenant
            lambda e: e.metadata["lang"] == "de",
        )
        for tenant in corpus
    ]
    for tenant, filters, keep in cases:
        hits = total = 0
        for q in queries:
            got = index.search(
                TenantId(tenant),
                IndexQuery(text="", vector=q, mode="dense", k=10, filters=filters),
            )
            assert len(got) == 10, (tenant, filters)  # the iterative scan fills k
            assert {g.chunk_id.split("-")[0] for g in got} == {tenant}
            expected = _exact_top(corpus[tenant], q, 10, keep)
            hits += len({g.chunk_id for g in got} & set(expected))
            total += 10
        recall = hits / total
        assert recall >= 0.95, f"{tenant} {filters}: recall@10 {recall:.3f}"


def test_filtered_candidates_come_from_a_short_walk_and_fill_or_walk_on(
    db: Database, shared_graph: tuple[PgVectorIndex, dict[str, list[IndexEntry]]]
) -> None:
    """A filtered search first takes the rows passing the filter among those a bounded
    walk reached (a hybrid's 100 fusion candidates: recall@100 stays high); when they
    are fewer than asked, it walks on and then scans exactly, so a filter passing few
    rows still gets every one of them."""
    _, corpus = shared_graph
    de = SearchFilters(metadata={"lang": "de"})  # 25, 75 and 400 rows
    for ef_search, k in ((10, 10), (40, 100)):
        index = PgVectorIndex(db, SPEC, exact_below=0, ef_search=ef_search)
        for tenant, entries in corpus.items():
            readable = sum(e.metadata["lang"] == "de" for e in entries)
            hits = total = 0
            for q in _unit(np.random.default_rng(9), 10):
                got = index.search(
                    TenantId(tenant), IndexQuery(text="", vector=q, mode="dense", k=k, filters=de)
                )
                assert len(got) == min(k, readable), (tenant, k)
                assert all(g.chunk_id.startswith(f"{tenant}-") for g in got)
                expected = _exact_top(entries, q, k, lambda e: e.metadata["lang"] == "de")
                hits += len({g.chunk_id for g in got} & set(expected))
                total += len(expected)
            assert hits / total >= 0.9, f"{tenant}, k={k}: recall {hits / total:.3f}"


def test_approximate_hybrid_fills_the_dense_side(
    shared_graph: tuple[PgVectorIndex, dict[str, list[IndexEntry]]],
) -> None:
    index, _ = shared_graph
    q = _unit(np.random.default_rng(8), 1)[0]
    got = index.search(
        TenantId("small"),
        IndexQuery(text="words", vector=q, mode="hybrid", k=20, candidates=50),
    )
    assert len(got) == 20
    dense = [h for h in got if h.dense_rank is not None]
    assert dense and all(h.similarity is not None for h in dense)


def test_version_moves_with_every_committed_write(db: Database) -> None:
    index = PgVectorIndex(db, SPEC)
    index.ensure_ready()
    t = TenantId("versioned")
    assert index.version(t) == 0
    vec = _unit(np.random.default_rng(1), 2)
    seen = [0]

    def write(entries: list[IndexEntry]) -> None:
        with db.write() as tx:
            index.upsert_document(tx, t, "d", entries)
        v = index.version(t)
        assert v > seen[-1]
        seen.append(v)

    write([IndexEntry("a", "d", "s", "", "x", vec[0])])
    write([IndexEntry("a", "d", "s", "", "x", vec[0]), IndexEntry("b", "d", "s", "", "y", vec[1])])
    assert index.count(t) == 2
    with pytest.raises(RuntimeError), db.write() as tx:
        index.delete_document(tx, t, "d")
        raise RuntimeError("rolled back")
    assert index.version(t) == seen[-1] and index.count(t) == 2
    with db.write() as tx:
        index.delete_document(tx, t, "d")
    assert index.version(t) > seen[-1] and index.count(t) == 0
    before = index.version(t)
    assert index.version(TenantId("other")) == 0
    index.rebuild()
    assert index.version(t) > before  # never reused after a rebuild


def test_similarity_is_the_cosine_of_dense_hits(db: Database) -> None:
    index = PgVectorIndex(db, SPEC)
    index.ensure_ready()
    t = TenantId("sim")
    vecs = _unit(np.random.default_rng(3), 30)
    entries = [
        IndexEntry(f"c{i}", "d", "s", "", "alpha" if i < 3 else "beta", vecs[i]) for i in range(30)
    ]
    with db.write() as tx:
        index.upsert_document(tx, t, "d", entries)
    q = -vecs[0]  # the alpha chunks are far from the query: they come only from sparse
    dense = index.search(t, IndexQuery(text="", vector=q, mode="dense", k=5))
    assert all(h.similarity == pytest.approx(h.score) for h in dense)
    hybrid = index.search(t, IndexQuery(text="alpha", vector=q, mode="hybrid", k=8, candidates=5))
    cos = {e.chunk_id: float(e.vector @ q) for e in entries}
    for h in hybrid:
        if h.dense_rank is None:
            assert h.similarity is None
        else:
            assert h.similarity == pytest.approx(cos[h.chunk_id], abs=1e-5)
    assert any(h.dense_rank is None for h in hybrid)
    sparse = index.search(t, IndexQuery(text="alpha", vector=None, mode="sparse", k=5))
    assert sparse and all(h.similarity is None for h in sparse)


def test_sparse_scores_rows_of_the_rarest_words_within_the_budget(db: Database) -> None:
    index_all = PgVectorIndex(db, SPEC)
    index_all.ensure_ready()
    bounded = PgVectorIndex(db, SPEC, sparse_max_scored=6)
    t = TenantId("budget")
    vecs = _unit(np.random.default_rng(4), 40)
    # "common" in all 40 chunks, "middling" in 4 (c0-c3), "rare" in 2 (c4, c5), "seldom"
    # in 1 (c6); c0 repeats "middling" so it outranks c1-c3.
    texts = ["common filler"] * 40
    texts[0] = "common middling middling"
    texts[1] = texts[2] = texts[3] = "common middling"
    texts[4] = texts[5] = "common rare"
    texts[6] = "common seldom"
    entries = [IndexEntry(f"c{i}", "d", "s", "", texts[i], vecs[i]) for i in range(40)]
    with db.write() as tx:
        index_all.upsert_document(tx, t, "d", entries)

    def sparse(index: PgVectorIndex, text: str, k: int = 50) -> dict[str, float]:
        hits = index.search(t, IndexQuery(text=text, vector=None, mode="sparse", k=k))
        return {h.chunk_id: h.score for h in hits}

    # df 1 + 2 + 4 = 7 > 6: every row of "seldom" and "rare" (3) is scored, then 3 of
    # the 4 "middling" rows fill the budget; "common" (40) is not looked up, but counts in
    # every score.
    full = sparse(index_all, "seldom rare middling common")
    assert len(full) == 40
    got = sparse(bounded, "seldom rare middling common")
    assert len(got) == 6 and {"c4", "c5", "c6"} <= set(got)
    assert len(set(got) & {"c0", "c1", "c2", "c3"}) == 3
    assert got == pytest.approx({c: full[c] for c in got})
    # With k below the budget the best of the scored rows come first, as unbounded.
    assert list(sparse(bounded, "seldom rare middling common", k=3)) == list(full)[:3]
    # Within the budget the answer is the unbounded one.
    assert sparse(bounded, "seldom rare") == pytest.approx(sparse(index_all, "seldom rare"))
    assert sparse(bounded, "middling rare") == pytest.approx(sparse(index_all, "middling rare"))
    # A word more common than the budget is still searched: 6 of its rows.
    assert len(sparse(bounded, "common")) == 6
    assert len(sparse(bounded, "common middling", k=50)) == 6
    assert len(sparse(index_all, "common")) == 40
    # Hybrid uses the same bounded side.
    hybrid = bounded.search(
        t, IndexQuery(text="seldom rare middling common", vector=vecs[30], k=10, candidates=10)
    )
    sparse_side = {h.chunk_id for h in hybrid if h.sparse_rank is not None}
    assert {"c4", "c5", "c6"} <= sparse_side and len(sparse_side) == 6


def test_a_document_written_in_several_statements_equals_one_written_in_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upsert_document`` writes a big document ``WRITE_BATCH`` rows a statement: the rows,
    the term counts (so every sparse score) and the count are those of one statement."""
    from ragd.adapters.index.pgvector import index as pgvector_index

    index = PgVectorIndex(db, SPEC)
    index.ensure_ready()
    vecs = _unit(np.random.default_rng(9), 40)
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    texts = [" ".join(words[: 1 + i % 5]) + f" w{i}" for i in range(40)]

    def write(tenant: str, n: int) -> None:
        entries = [IndexEntry(f"{tenant}-{i}", "d", "s", "T", texts[i], vecs[i]) for i in range(n)]
        with db.write() as tx:
            index.upsert_document(tx, TenantId(tenant), "d", entries)

    def scores(tenant: str) -> dict[str, float]:
        hits = index.search(
            TenantId(tenant),
            IndexQuery(text="alpha delta epsilon w3", vector=None, mode="sparse", k=50),
        )
        return {h.chunk_id.split("-", 1)[1]: h.score for h in hits}

    write("whole", 40)
    monkeypatch.setattr(pgvector_index, "WRITE_BATCH", 7)  # 40 rows: 6 statements
    write("sliced", 40)
    assert index.count(TenantId("sliced")) == 40
    assert scores("sliced") == pytest.approx(scores("whole"))
    write("sliced", 12)  # replaced by a shorter version, also sliced
    monkeypatch.setattr(pgvector_index, "WRITE_BATCH", 1000)
    write("whole", 12)
    assert index.count(TenantId("sliced")) == 12
    assert scores("sliced") == pytest.approx(scores("whole"))


def test_a_big_tenant_gets_a_graph_of_its_own(db: Database, pg_database: str) -> None:
    """Above ``exact_below`` rows a tenant gets a partial HNSW index, preferred to the
    shared graph for its searches (EXPLAIN), kept up to date by later writes; a tenant id
    that needs quoting is quoted. (That it pays at scale: bench/pgvector.py.)"""
    index = PgVectorIndex(db, SPEC, exact_below=300, ef_search=40)
    index.ensure_ready()
    rng = np.random.default_rng(12)
    big, small = "it's 100% big", "small"
    corpus = _load(db, index, big, _unit(rng, 1000))
    _load(db, index, small, _unit(rng, 250))
    assert index.maintain() == big
    assert index.maintain() is None  # nothing left to build; the small tenant needs none
    name = pgvector_sql.tenant_graph_name(big)
    with db.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT i.indisvalid, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %(n)s",
            {"n": name},
        ).one()
    assert row[0] is True and "it''s 100% big" in row[1]
    q = _unit(np.random.default_rng(13), 1)[0]
    with db.read() as conn:
        # 1,000 rows fit in a few pages, where a scan and a sort beat any index; with those
        # off the planner must choose between the shared graph and the tenant's own.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        params = {"tenant": big, "qvec": pgvector_sql.vector_literal(q), "n": 10}
        plan = "\n".join(
            r[0]
            for r in conn.exec_driver_sql(
                "EXPLAIN " + pgvector_sql.dense_sql("", exact=False), params
            ).all()
        )
    assert name in plan
    hits = total = 0
    for q in _unit(np.random.default_rng(14), 20):
        got = index.search(TenantId(big), IndexQuery("", q, "dense", 10))
        hits += len({g.chunk_id for g in got} & set(_exact_top(corpus, q, 10, lambda e: True)))
        total += 10
    assert hits / total >= 0.95
    # Writes after the build are in the tenant's graph too (Postgres maintains it).
    extra = _unit(np.random.default_rng(15), 1)[0]
    with db.write() as tx:
        index.upsert_document(
            tx, TenantId(big), "late", [IndexEntry("late-1", "late", "s", "", "x", extra)]
        )
    top = index.search(TenantId(big), IndexQuery("", extra, "dense", 1))
    assert [h.chunk_id for h in top] == ["late-1"]
    # A role that does not own the table cannot build one: said once, searches go on.
    _load(db, index, "another big one", _unit(rng, 400))
    with db.read() as conn:
        app_role = conn.exec_driver_sql("SELECT current_user").scalar_one()
    with _admin(pg_database, db) as admin:  # as deployed: tables owned by a migration role
        admin.exec_driver_sql("ALTER TABLE index_chunks OWNER TO CURRENT_USER")
        admin.exec_driver_sql(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON index_chunks TO "{app_role}"'
        )
    with pytest.raises(ConfigError, match="ragd maintain"):
        index.maintain()
    assert index.maintain() is None  # said once
    assert len(index.search(TenantId("another big one"), IndexQuery("", q, "dense", 10))) == 10


@contextmanager
def _admin(admin_url: str, db: Database) -> Iterator[Connection]:
    """A superuser connection on ``db``'s schema."""
    with db.read() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    engine = create_engine(
        normalise_url(admin_url), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'SET search_path = "{schema}", public')
            yield conn
    finally:
        engine.dispose()


def test_ragd_maintain_builds_the_graphs_workers_would(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ragd.cli import app
    from ragd.config import Settings, get_settings
    from ragd.services.container import build_services, migrate_database

    env = {"DATABASE_URL": pg_url, "VECTOR_STORE_TYPE": "pgvector", "RAGD_PG_EXACT_BELOW": "40"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    migrate_database(Settings())  # type: ignore[call-arg]
    svc = build_services(Settings())  # type: ignore[call-arg]
    try:
        assert isinstance(svc.index, PgVectorIndex)
        database = Database(pg_url)
        spec = svc.index.spec
        vecs = np.random.default_rng(16).standard_normal((50, spec.dimension)).astype(np.float32)
        entries = [IndexEntry(f"c{i}", "d", "s", "", "text", vecs[i]) for i in range(50)]
        with database.write() as tx:
            svc.index.upsert_document(tx, TenantId("big"), "d", entries)
        database.dispose()
    finally:
        svc.close()
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(app, ["maintain"])
        again = CliRunner().invoke(app, ["maintain"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "built the vector index of tenant big" in first.output
    assert "1 index(es) built" in first.output
    assert again.exit_code == 0 and "0 index(es) built" in again.output
