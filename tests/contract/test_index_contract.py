"""Contract suite for the Index port, run against every Index adapter.

Written against the protocol only: an adapter joins by adding a param to ``harness`` and a
factory returning an ``IndexHarness``. Dense rankings are checked against a numpy
brute-force oracle (exact ids, scores within 1e-4), so an adapter using an approximate
index must ask its backend for exact search at these sizes.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragd.domain.filters import SearchFilters
from ragd.domain.fusion import feedback_vector, rrf_fuse, weighted_fuse
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId
from ragd.errors import IndexMismatch, InvalidRequest
from ragd.ports.index import Index, IndexQuery, VectorSource
from ragd.ports.store import Transaction
from tests.contract.conftest import BACKENDS, database_url_for

DIM = 16
SPEC = EmbeddingSpec("test-model", DIM)
TOL = 1e-4


@dataclass
class IndexHarness:
    index: Index
    transaction: Callable[[], AbstractContextManager[Transaction]]
    reopen: Callable[[EmbeddingSpec], Index]
    """A second adapter instance over the same storage, configured with another spec."""
    close: Callable[[], None]


def _sqlite(url: str) -> IndexHarness:
    from ragd.adapters.index.sqlite import SqliteIndex
    from ragd.adapters.sql.database import Database

    db = Database(url)
    index = SqliteIndex(db, SPEC)
    index.ensure_ready()
    return IndexHarness(index, db.write, lambda spec: SqliteIndex(db, spec), db.dispose)


def _pgvector(url: str) -> IndexHarness:
    from ragd.adapters.index.pgvector import PgVectorIndex
    from ragd.adapters.sql.database import Database

    db = Database(url)
    index = PgVectorIndex(db, SPEC)
    index.ensure_ready()
    return IndexHarness(index, db.write, lambda spec: PgVectorIndex(db, spec), db.dispose)


def _qdrant(url: str) -> IndexHarness:
    """Qdrant in qdrant-client's local mode (in memory), its outbox in a SQLite Store.

    Writes go through the outbox; the harness's transaction drains it after committing,
    which is what the embedded mode's in-process sync does between worker batches."""
    pytest.importorskip("qdrant_client")
    from ragd.adapters.index.qdrant import QdrantIndex
    from ragd.adapters.index.qdrant.client import QdrantCollections, open_client
    from ragd.adapters.index.qdrant.outbox import Outbox
    from ragd.adapters.index.qdrant.sync import OutboxSync
    from ragd.adapters.sql import migrate
    from ragd.adapters.sql.database import Database

    db = Database(url)
    migrate.upgrade(db)
    client = open_client(None, ":memory:", api_key=None, timeout=10)
    collections = QdrantCollections(client, "contract")
    outbox = Outbox(db)
    sync = OutboxSync(collections, outbox)

    def make(spec: EmbeddingSpec) -> Index:
        return QdrantIndex(collections, outbox, spec)

    @contextmanager
    def transaction() -> Iterator[Transaction]:
        with db.write() as tx:
            yield tx
        sync.drain()

    def close() -> None:
        client.close()
        db.dispose()

    index = make(SPEC)
    index.ensure_ready()
    return IndexHarness(index, transaction, make, close)


FACTORIES: dict[str, Callable[[str], IndexHarness]] = {
    "sqlite": _sqlite,
    "postgres": _pgvector,
    "qdrant": _qdrant,
}
STORE_OF = {"qdrant": "sqlite"}
"""The Store database each index runs beside (the SQL indexes live in their own)."""


@pytest.fixture(params=[*BACKENDS, "qdrant"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexHarness]:
    store = STORE_OF.get(request.param, request.param)
    h = FACTORIES[request.param](database_url_for(store, request, tmp_path))
    yield h
    h.close()


@pytest.fixture
def index(harness: IndexHarness) -> Index:
    return harness.index


@pytest.fixture
def tenant() -> TenantId:
    return TenantId(f"t-{uuid.uuid4().hex[:12]}")


# --------------------------------------------------------------------------- helpers


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def entry(
    chunk_id: str,
    document_id: str,
    vector: np.ndarray,
    *,
    text: str = "",
    title: str = "",
    source: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> IndexEntry:
    return IndexEntry(
        chunk_id=chunk_id,
        document_id=document_id,
        source=source if source is not None else f"file://{document_id}",
        title=title,
        text=text,
        vector=np.asarray(vector, dtype=np.float32),
        metadata=metadata or {},
    )


def put(h: IndexHarness, tenant: TenantId, entries: Sequence[IndexEntry]) -> None:
    """Upsert entries grouped by document, one transaction per document."""
    by_doc: dict[str, list[IndexEntry]] = {}
    for e in entries:
        by_doc.setdefault(e.document_id, []).append(e)
    for doc, doc_entries in by_doc.items():
        with h.transaction() as tx:
            h.index.upsert_document(tx, tenant, doc, doc_entries)


def oracle(
    entries: Sequence[IndexEntry],
    query: np.ndarray,
    k: int,
    keep: Callable[[IndexEntry], bool] = lambda _e: True,
) -> list[tuple[str, float]]:
    """Exact cosine top-k in float64: the ranking every adapter must reproduce."""
    q = query.astype(np.float64)
    q = q / np.linalg.norm(q)
    scored = []
    for e in entries:
        if keep(e):
            v = e.vector.astype(np.float64)
            scored.append((e.chunk_id, float(v @ q / np.linalg.norm(v))))
    scored.sort(key=lambda s: (-s[1], s[0]))
    return scored[:k]


def assert_matches_oracle(
    got: Sequence[ScoredChunk], expected: Sequence[tuple[str, float]]
) -> None:
    assert [h.chunk_id for h in got] == [cid for cid, _ in expected]
    for hit, (_, score) in zip(got, expected, strict=True):
        assert hit.score == pytest.approx(score, abs=TOL)


def dense(
    index: Index, tenant: TenantId, vector: np.ndarray, k: int = 10, **kw: Any
) -> list[ScoredChunk]:
    return index.search(tenant, IndexQuery(text="", vector=vector, mode="dense", k=k, **kw))


def sparse(index: Index, tenant: TenantId, text: str, k: int = 10, **kw: Any) -> list[ScoredChunk]:
    return index.search(tenant, IndexQuery(text=text, vector=None, mode="sparse", k=k, **kw))


def ids(hits: Sequence[ScoredChunk]) -> list[str]:
    return [h.chunk_id for h in hits]


def random_corpus(
    tenant: TenantId, n: int = 200, docs: int = 20, seed: int = 7
) -> list[IndexEntry]:
    rng = np.random.default_rng(seed)
    vecs = unit(rng, n)
    colours = ["red", "green", "blue"]
    return [
        entry(
            f"{tenant}-c{i:04d}",
            f"doc-{i % docs:02d}",
            vecs[i],
            text=f"chunk number {i}",
            source=f"s3://bucket/{i % 5}.pdf",
            metadata={"colour": colours[i % 3], "year": 2000 + i % 4, "draft": i % 2 == 0},
        )
        for i in range(n)
    ]


# --------------------------------------------------------------------------- lifecycle


def test_ensure_ready_is_idempotent_and_keeps_data(harness: IndexHarness, tenant: TenantId) -> None:
    index = harness.index
    put(harness, tenant, [entry("a", "d1", unit(np.random.default_rng(1), 1)[0], text="alpha")])
    index.ensure_ready()
    index.ensure_ready()
    assert index.stored_spec() == SPEC
    assert index.count(tenant) == 1
    assert ids(sparse(index, tenant, "alpha")) == ["a"]


def test_reopening_with_another_spec_is_index_mismatch(harness: IndexHarness) -> None:
    other = harness.reopen(EmbeddingSpec("other-model", DIM * 2))
    with pytest.raises(IndexMismatch, match="reindex"):
        other.ensure_ready()
    same_dim = harness.reopen(EmbeddingSpec("other-model", DIM))
    with pytest.raises(IndexMismatch):
        same_dim.ensure_ready()
    harness.reopen(SPEC).ensure_ready()  # the recorded spec is still accepted


def test_rebuild_empties_and_keeps_working(harness: IndexHarness, tenant: TenantId) -> None:
    index = harness.index
    corpus = random_corpus(tenant, n=30)
    put(harness, tenant, corpus)
    assert index.count(tenant) == 30
    index.rebuild()
    assert index.count(tenant) == 0
    assert index.stored_spec() == SPEC
    assert dense(index, tenant, corpus[0].vector) == []
    assert sparse(index, tenant, "chunk number") == []
    put(harness, tenant, corpus[:3])
    assert index.count(tenant) == 3


def test_rebuild_adopts_a_new_spec(harness: IndexHarness, tenant: TenantId) -> None:
    put(harness, tenant, random_corpus(tenant, n=5))
    new_spec = EmbeddingSpec("bigger-model", 8)
    reopened = harness.reopen(new_spec)
    with pytest.raises(IndexMismatch):
        reopened.ensure_ready()
    reopened.rebuild()
    reopened.ensure_ready()
    assert reopened.stored_spec() == new_spec
    with harness.transaction() as tx:
        reopened.upsert_document(tx, tenant, "d", [entry("x", "d", np.ones(8, dtype=np.float32))])
    assert ids(dense(reopened, tenant, np.ones(8, dtype=np.float32))) == ["x"]


# --------------------------------------------------------------------------- dense


def test_dense_ranking_equals_brute_force(harness: IndexHarness, tenant: TenantId) -> None:
    corpus = random_corpus(tenant)
    put(harness, tenant, corpus)
    for query in unit(np.random.default_rng(99), 6):
        for k in (1, 10, 50):
            assert_matches_oracle(
                dense(harness.index, tenant, query, k=k), oracle(corpus, query, k)
            )


def test_dense_score_is_cosine_similarity_for_unnormalised_vectors(
    harness: IndexHarness, tenant: TenantId
) -> None:
    put(harness, tenant, [entry("x", "d", np.array([3.0] + [0.0] * (DIM - 1)))])
    query = np.array([1.0, 1.0] + [0.0] * (DIM - 2), dtype=np.float32)
    (hit,) = dense(harness.index, tenant, query)
    assert hit.score == pytest.approx(1 / np.sqrt(2), abs=TOL)


def test_dense_k_larger_than_corpus_returns_everything(
    harness: IndexHarness, tenant: TenantId
) -> None:
    corpus = random_corpus(tenant, n=7)
    put(harness, tenant, corpus)
    query = unit(np.random.default_rng(3), 1)[0]
    assert_matches_oracle(dense(harness.index, tenant, query, k=50), oracle(corpus, query, 50))


# --------------------------------------------------------------------------- sparse


SPARSE_DOCS = [
    ("s1", "Cats", "the cat sat on the mat with another cat and a third cat"),
    ("s2", "Pets", "a cat and a dog play in the garden"),
    ("s3", "Dogs", "dogs bark at the postman every morning"),
    ("s4", "Running", "she was running a marathon in the rain"),
    ("s5", "Gardening", "tomatoes need sun water and patience"),
    ("s6", "Zebrafish regeneration", "the fins grow back after injury"),
]


def _sparse_corpus(harness: IndexHarness, tenant: TenantId) -> None:
    vec = unit(np.random.default_rng(5), len(SPARSE_DOCS))
    put(
        harness,
        tenant,
        [
            entry(cid, f"doc-{cid}", vec[i], title=title, text=text)
            for i, (cid, title, text) in enumerate(SPARSE_DOCS)
        ],
    )


def test_sparse_ranks_by_term_frequency(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    hits = sparse(harness.index, tenant, "cat")
    assert ids(hits)[:2] == ["s1", "s2"]
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(h.score > 0 for h in hits)


def test_sparse_is_or_of_terms_not_and(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    hits = ids(sparse(harness.index, tenant, "postman tomatoes"))
    assert set(hits) == {"s3", "s5"}


def test_sparse_prefers_chunks_matching_more_terms(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    assert ids(sparse(harness.index, tenant, "cat dog garden"))[0] == "s2"


def test_sparse_stems(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    assert "s4" in ids(sparse(harness.index, tenant, "run"))
    assert "s3" in ids(sparse(harness.index, tenant, "barking dog"))


def test_sparse_searches_titles(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    assert ids(sparse(harness.index, tenant, "zebrafish")) == ["s6"]


def test_sparse_folds_case_and_diacritics(harness: IndexHarness, tenant: TenantId) -> None:
    put(harness, tenant, [entry("fr", "d", np.ones(DIM), text="Le Café de la Gare à Genève")])
    assert ids(sparse(harness.index, tenant, "CAFE geneve")) == ["fr"]


@pytest.mark.parametrize("text", ["", "   ", "the of and", "is it to be", "!!! ??? ..."])
def test_sparse_without_content_terms_returns_nothing(
    harness: IndexHarness, tenant: TenantId, text: str
) -> None:
    _sparse_corpus(harness, tenant)
    assert sparse(harness.index, tenant, text) == []


HOSTILE = [
    "AND (",
    '"',
    '""',
    "NEAR",
    "NEAR(cat dog, 2)",
    "col:x",
    "title:cat",
    "*",
    "cat*",
    "^cat",
    "cat OR",
    "NOT cat",
    "-cat",
    "+",
    "(((",
    ")",
    "{title text}: cat",
    "cat AND OR NOT dog",
    "'; DROP TABLE index_chunks; --",
    "\x00cat",
    "c\u0301at \U0001f408 猫",
    "a" * 5000,
    " ".join(f"word{i}" for i in range(500)),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_sparse_input_never_raises(
    harness: IndexHarness, tenant: TenantId, text: str
) -> None:
    _sparse_corpus(harness, tenant)
    hits = sparse(harness.index, tenant, text)
    assert isinstance(hits, list)
    vec = unit(np.random.default_rng(0), 1)[0]
    harness.index.search(tenant, IndexQuery(text=text, vector=vec, mode="hybrid"))


def test_hostile_input_still_finds_its_words(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    assert "s1" in ids(sparse(harness.index, tenant, 'title:cat AND ("NEAR*'))


# --------------------------------------------------------------------------- hybrid


def test_hybrid_is_rrf_of_dense_and_sparse(harness: IndexHarness, tenant: TenantId) -> None:
    corpus = random_corpus(tenant, n=120)
    texts = ["apple pie recipe", "banana bread", "cherry tart", "apple crumble", "plum jam"]
    corpus = [
        IndexEntry(e.chunk_id, e.document_id, e.source, "", texts[i % 5], e.vector, e.metadata)
        for i, e in enumerate(corpus)
    ]
    put(harness, tenant, corpus)
    index = harness.index
    query_vec = unit(np.random.default_rng(11), 1)[0]
    text = "apple tart"
    q = IndexQuery(text=text, vector=query_vec, mode="hybrid", k=10, candidates=30, rrf_k=60)
    hybrid = index.search(tenant, q)
    d = dense(index, tenant, query_vec, k=30)
    s = sparse(index, tenant, text, k=30)
    assert len(hybrid) == 10
    assert hybrid == rrf_fuse(d, s, k=60, limit=10)
    assert any(h.dense_rank is not None for h in hybrid)
    assert any(h.sparse_rank is not None for h in hybrid)


def test_hybrid_mixes_results_from_both_sides(harness: IndexHarness, tenant: TenantId) -> None:
    rng = np.random.default_rng(21)
    vecs = unit(rng, 40)
    query_vec = vecs[0]
    corpus = [entry(f"v{i}", f"d{i}", vecs[i], text=f"filler{i}") for i in range(40)]
    corpus.append(entry("lexical", "dl", -query_vec, text="quokka habitat"))
    put(harness, tenant, corpus)
    q = IndexQuery(text="quokka", vector=query_vec, mode="hybrid", k=5, candidates=10)
    hits = ids(harness.index.search(tenant, q))
    assert hits[0] == "v0" or hits[:2].count("v0") == 1
    assert "lexical" in hits and "v0" in hits


def test_hybrid_weights_and_rrf_k_are_passed_through(
    harness: IndexHarness, tenant: TenantId
) -> None:
    put(harness, tenant, random_corpus(tenant, n=60))
    index = harness.index
    vec = unit(np.random.default_rng(4), 1)[0]
    q = IndexQuery(
        text="chunk 7", vector=vec, k=8, candidates=20, rrf_k=10, dense_weight=0.3, sparse_weight=2
    )
    expected = rrf_fuse(
        dense(index, tenant, vec, k=20),
        sparse(index, tenant, "chunk 7", k=20),
        k=10,
        dense_weight=0.3,
        sparse_weight=2,
        limit=8,
    )
    assert index.search(tenant, q) == expected


def test_weighted_hybrid_is_the_shared_fusion_of_both_sides(
    harness: IndexHarness, tenant: TenantId
) -> None:
    corpus = random_corpus(tenant, n=120)
    texts = ["apple pie recipe", "banana bread", "cherry tart", "apple crumble", "plum jam"]
    corpus = [
        IndexEntry(e.chunk_id, e.document_id, e.source, "", texts[i % 5], e.vector, e.metadata)
        for i, e in enumerate(corpus)
    ]
    put(harness, tenant, corpus)
    index = harness.index
    vec = unit(np.random.default_rng(11), 1)[0]
    q = IndexQuery(
        text="apple tart",
        vector=vec,
        k=10,
        candidates=30,
        fusion="weighted",
        dense_share=0.4,
        adaptive=1.0,
    )
    expected = weighted_fuse(
        dense(index, tenant, vec, k=30),
        sparse(index, tenant, "apple tart", k=30),
        dense_weight=0.4,
        depth=30,
        adaptive=1.0,
        limit=10,
    )
    assert index.search(tenant, q) == expected


def test_weighted_hybrid_ranks_the_same_on_every_backend(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """Every backend returns this exact ranking: the dense side is exact cosine, and the
    keyword side's two hits (one word twice against once, same lengths) rescale to 1 and 0
    whatever each backend's BM25 scale is, so the fusion leaves no room to differ."""
    rng = np.random.default_rng(31)
    vecs = unit(rng, 42)
    corpus = [entry(f"v{i:02d}", f"d{i}", vecs[i], text=f"filler{i} words here") for i in range(40)]
    corpus.append(entry("lexA", "da", vecs[40], text="quokka quokka island"))
    corpus.append(entry("lexB", "db", vecs[41], text="quokka island shore"))
    put(harness, tenant, corpus)
    query_vec = vecs[3] + 0.5 * vecs[40]
    exact = [
        ScoredChunk(cid, score, dense_rank=r, similarity=score)
        for r, (cid, score) in enumerate(oracle(corpus, query_vec, 20), start=1)
    ]
    keyword = [ScoredChunk("lexA", 2.0, sparse_rank=1), ScoredChunk("lexB", 1.0, sparse_rank=2)]
    for share, adaptive in ((0.4, 0.0), (0.4, 1.0), (0.8, 2.0)):
        q = IndexQuery(
            text="quokka",
            vector=query_vec,
            k=8,
            candidates=20,
            fusion="weighted",
            dense_share=share,
            adaptive=adaptive,
        )
        got = harness.index.search(tenant, q)
        want = weighted_fuse(
            exact, keyword, dense_weight=share, depth=20, adaptive=adaptive, limit=8
        )
        assert ids(got) == ids(want)
        for g, w in zip(got, want, strict=True):
            assert g.score == pytest.approx(w.score, abs=TOL)


def test_stored_vectors_are_the_upserted_vectors_of_the_tenant_only(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """Every backend hands back what it stores (dense feedback and reindex read them):
    the direction of each upserted vector, absent ids and other tenants' chunks left out."""
    index = harness.index
    assert isinstance(index, VectorSource)
    rng = np.random.default_rng(5)
    raw = rng.standard_normal((6, DIM)).astype(np.float32) * 3.0  # not unit length
    put(harness, tenant, [entry(f"sv{i}", f"d{i % 2}", raw[i], text="w") for i in range(6)])
    got = index.stored_vectors(tenant, ["sv0", "sv3", "sv5", "nope", "sv3"])
    assert sorted(got) == ["sv0", "sv3", "sv5"]
    for cid, vec in got.items():
        want = raw[int(cid[2:])].astype(np.float64)
        v = np.asarray(vec, dtype=np.float64)
        assert v.shape == (DIM,)
        assert float(v @ want) / (np.linalg.norm(v) * np.linalg.norm(want)) == pytest.approx(
            1.0, abs=1e-6
        )
    assert index.stored_vectors(TenantId(f"{tenant}-other"), ["sv0"]) == {}
    assert index.stored_vectors(tenant, []) == {}


def test_a_feedback_round_ranks_the_same_on_every_backend(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """Dense feedback (``services.relevance_feedback``) is a first hybrid search, the
    stored vectors of its top hits, and a second hybrid search with the moved query
    vector: each step through the port, so every backend must give the ranking computed
    here from the oracle and the shared fusion."""
    index = harness.index
    assert isinstance(index, VectorSource)
    rng = np.random.default_rng(41)
    vecs = unit(rng, 42)
    corpus = [entry(f"v{i:02d}", f"d{i}", vecs[i], text=f"filler{i} words here") for i in range(40)]
    corpus.append(entry("lexA", "da", vecs[40], text="quokka quokka island"))
    corpus.append(entry("lexB", "db", vecs[41], text="quokka island shore"))
    put(harness, tenant, corpus)
    keyword = [ScoredChunk("lexA", 2.0, sparse_rank=1), ScoredChunk("lexB", 1.0, sparse_rank=2)]
    query_vec = vecs[7] + 0.3 * vecs[41]
    q = IndexQuery(
        text="quokka", vector=query_vec, k=8, candidates=20, fusion="weighted", dense_share=0.4
    )
    first = index.search(tenant, q)
    top2 = ids(first)[:2]
    stored = index.stored_vectors(tenant, top2)
    moved = feedback_vector(query_vec, [stored[c] for c in top2], 0.5)
    got = index.search(tenant, IndexQuery(**{**q.__dict__, "vector": moved, "dense_share": 0.6}))
    by_id = {e.chunk_id: e.vector for e in corpus}
    want_moved = feedback_vector(query_vec, [by_id[c] for c in top2], 0.5)
    exact = [
        ScoredChunk(cid, score, dense_rank=r, similarity=score)
        for r, (cid, score) in enumerate(oracle(corpus, want_moved, 20), start=1)
    ]
    want = weighted_fuse(exact, keyword, dense_weight=0.6, depth=20, limit=8)
    assert ids(got) == ids(want)
    assert ids(got) != ids(first)  # the round moved the ranking: the test can fail


@pytest.mark.parametrize(
    "bad",
    [{"fusion": "max"}, {"dense_share": 1.5}, {"dense_share": -0.1}, {"adaptive": 11.0}],
)
def test_bad_fusion_settings_are_invalid(
    index: Index, tenant: TenantId, bad: dict[str, Any]
) -> None:
    vec = unit(np.random.default_rng(2), 1)[0]
    with pytest.raises(InvalidRequest):
        index.search(tenant, IndexQuery(text="x", vector=vec, mode="hybrid", **bad))


# --------------------------------------------------------------------------- validation


def test_wrong_dimension_is_invalid_request_and_writes_nothing(
    harness: IndexHarness, tenant: TenantId
) -> None:
    good = entry("g", "d", np.ones(DIM))
    put(harness, tenant, [good])
    bad = [entry("g2", "d", np.ones(DIM)), entry("b", "d", np.ones(DIM + 1))]
    with pytest.raises(InvalidRequest), harness.transaction() as tx:
        harness.index.upsert_document(tx, tenant, "d", bad)
    assert ids(dense(harness.index, tenant, np.ones(DIM))) == ["g"]
    with pytest.raises(InvalidRequest):
        dense(harness.index, tenant, np.ones(DIM - 1))


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_vector_modes_need_a_vector(index: Index, tenant: TenantId, mode: Any) -> None:
    with pytest.raises(InvalidRequest):
        index.search(tenant, IndexQuery(text="cat", vector=None, mode=mode))


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_is_invalid(index: Index, tenant: TenantId, k: int) -> None:
    with pytest.raises(InvalidRequest):
        sparse(index, tenant, "cat", k=k)


def test_sparse_needs_no_vector(harness: IndexHarness, tenant: TenantId) -> None:
    _sparse_corpus(harness, tenant)
    assert sparse(harness.index, tenant, "cat")


# --------------------------------------------------------------------------- filters


def _filter_modes(index: Index, tenant: TenantId, filters: SearchFilters) -> dict[str, set[str]]:
    """Ids each mode returns under ``filters`` with k large enough to see every match."""
    vec = unit(np.random.default_rng(8), 1)[0]
    return {
        "dense": set(ids(dense(index, tenant, vec, k=500, filters=filters))),
        "sparse": set(ids(sparse(index, tenant, "chunk number", k=500, filters=filters))),
        "hybrid": set(
            ids(
                index.search(
                    tenant,
                    IndexQuery("chunk number", vec, k=500, candidates=500, filters=filters),
                )
            )
        ),
    }


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (SearchFilters(document_ids=("doc-03",)), lambda e: e.document_id == "doc-03"),
        (
            SearchFilters(document_ids=("doc-01", "doc-07", "missing")),
            lambda e: e.document_id in {"doc-01", "doc-07"},
        ),
        (SearchFilters(sources=("s3://bucket/2.pdf",)), lambda e: e.source == "s3://bucket/2.pdf"),
        (SearchFilters(metadata={"colour": "green"}), lambda e: e.metadata["colour"] == "green"),
        (SearchFilters(metadata={"year": 2002}), lambda e: e.metadata["year"] == 2002),
        (SearchFilters(metadata={"year": 2002.0}), lambda e: e.metadata["year"] == 2002),
        (SearchFilters(metadata={"draft": True}), lambda e: e.metadata["draft"] is True),
        (SearchFilters(metadata={"draft": False}), lambda e: e.metadata["draft"] is False),
        (
            SearchFilters(
                document_ids=("doc-00", "doc-01", "doc-02", "doc-03"),
                sources=("s3://bucket/0.pdf", "s3://bucket/1.pdf", "s3://bucket/3.pdf"),
                metadata={"colour": "red", "draft": True},
            ),
            lambda e: (
                e.document_id in {"doc-00", "doc-01", "doc-02", "doc-03"}
                and e.source in {"s3://bucket/0.pdf", "s3://bucket/1.pdf", "s3://bucket/3.pdf"}
                and e.metadata["colour"] == "red"
                and e.metadata["draft"] is True
            ),
        ),
        (SearchFilters(metadata={"colour": "purple"}), lambda e: False),
        (SearchFilters(metadata={"nope": "x"}), lambda e: False),
    ],
)
def test_filters_apply_to_every_mode(
    harness: IndexHarness,
    tenant: TenantId,
    filters: SearchFilters,
    keep: Callable[[IndexEntry], bool],
) -> None:
    corpus = random_corpus(tenant)
    put(harness, tenant, corpus)
    expected = {e.chunk_id for e in corpus if keep(e)}
    got = _filter_modes(harness.index, tenant, filters)
    assert got["dense"] == expected
    assert got["sparse"] == expected
    assert got["hybrid"] == expected


def test_metadata_filters_respect_json_types(harness: IndexHarness, tenant: TenantId) -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng, 6)
    values: list[Any] = [True, 1, "1", "true", None, 0]
    corpus = [
        entry(f"m{i}", f"d{i}", vecs[i], text="same words", metadata={"v": v})
        for i, v in enumerate(values)
    ]
    corpus.append(entry("absent", "dx", unit(rng, 1)[0], text="same words"))
    put(harness, tenant, corpus)
    index = harness.index

    def match(value: Any) -> set[str]:
        return set(
            ids(sparse(index, tenant, "words", k=50, filters=SearchFilters(metadata={"v": value})))
        )

    assert match(True) == {"m0"}
    assert match(1) == {"m1"}
    assert match("1") == {"m2"}
    assert match("true") == {"m3"}
    assert match(None) == {"m4", "absent"}
    assert match(False) == set()
    assert match(0) == {"m5"}


def test_dense_filter_with_few_matches_is_exact_top_k(
    harness: IndexHarness, tenant: TenantId
) -> None:
    corpus = random_corpus(tenant, n=400)
    put(harness, tenant, corpus)
    filters = SearchFilters(sources=("s3://bucket/4.pdf",), metadata={"colour": "blue"})

    def keep(e: IndexEntry) -> bool:
        return e.source == "s3://bucket/4.pdf" and e.metadata["colour"] == "blue"

    for query in unit(np.random.default_rng(12), 4):
        got = dense(harness.index, tenant, query, k=10, filters=filters)
        assert_matches_oracle(got, oracle(corpus, query, 10, keep))


def _bulk_put(
    harness: IndexHarness, tenant: TenantId, entries: Sequence[IndexEntry], per_doc: int = 500
) -> None:
    for start in range(0, len(entries), per_doc):
        batch = entries[start : start + per_doc]
        with harness.transaction() as tx:
            harness.index.upsert_document(tx, tenant, batch[0].document_id, batch)


def test_dense_filter_with_many_matches_is_exact_top_k(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """More matches than any id list an adapter would ship: the wide-filter path."""
    rng = np.random.default_rng(13)
    n = 6000
    vecs = unit(rng, n)
    corpus = [
        entry(
            f"{tenant}-w{i:05d}",
            f"doc-{i // 500:02d}",
            vecs[i],
            metadata={"lang": "en" if i % 6 else "de", "odd": i % 2 == 1},
        )
        for i in range(n)
    ]
    _bulk_put(harness, tenant, corpus)
    for filters, keep in [
        (SearchFilters(metadata={"lang": "en"}), lambda e: e.metadata["lang"] == "en"),
        (
            SearchFilters(metadata={"lang": "en", "odd": True}),
            lambda e: e.metadata["lang"] == "en" and e.metadata["odd"],
        ),
    ]:
        for query in unit(np.random.default_rng(14), 3):
            for k in (1, 10, 100):
                got = dense(harness.index, tenant, query, k=k, filters=filters)
                assert_matches_oracle(got, oracle(corpus, query, k, keep))


def test_dense_filter_is_exact_when_all_matches_are_far(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """Many matches, all behind thousands of closer non-matching chunks."""
    rng = np.random.default_rng(15)
    axis = np.zeros(DIM, dtype=np.float32)
    axis[0] = 1.0
    raw = unit(rng, 9000)
    near = np.abs(raw[:4500]) * 0.2 + axis  # all close to +axis
    far = -np.abs(raw[4500:]) * 0.2 - axis  # all close to -axis
    vecs = np.vstack([near, far])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    corpus = [
        entry(f"{tenant}-f{i:05d}", f"doc-{i // 500:02d}", vecs[i], metadata={"far": i >= 4500})
        for i in range(len(vecs))
    ]
    _bulk_put(harness, tenant, corpus)
    filters = SearchFilters(metadata={"far": True})
    got = dense(harness.index, tenant, axis, k=10, filters=filters)
    assert_matches_oracle(got, oracle(corpus, axis, 10, lambda e: e.metadata["far"]))


# --------------------------------------------------------------------------- tenants


def test_tenants_never_see_each_other(harness: IndexHarness, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-other")
    rng = np.random.default_rng(31)
    vecs = unit(rng, 50)

    def corpus_for(t: TenantId, n: int) -> list[IndexEntry]:
        return [
            entry(
                f"{t}-c{i}", f"doc-{i % 5}", vecs[i], text=f"shared words {i}", metadata={"k": "v"}
            )
            for i in range(n)
        ]

    mine, theirs = corpus_for(tenant, 50), corpus_for(other, 30)
    put(harness, tenant, mine)
    put(harness, other, theirs)
    index = harness.index
    assert index.count(tenant) == 50
    assert index.count(other) == 30
    assert index.count(TenantId(f"{tenant}-nobody")) == 0
    for t, own in ((tenant, mine), (other, theirs)):
        allowed = {e.chunk_id for e in own}
        for q in vecs[:5]:
            hits = dense(index, t, q, k=100)
            assert set(ids(hits)) == allowed
            hits = index.search(t, IndexQuery("shared words", q, k=100, candidates=100))
            assert set(ids(hits)) == allowed
        assert set(ids(sparse(index, t, "shared words", k=100))) == allowed
        filtered = dense(index, t, vecs[0], k=100, filters=SearchFilters(metadata={"k": "v"}))
        assert set(ids(filtered)) == allowed
    assert dense(index, TenantId(f"{tenant}-nobody"), vecs[0]) == []
    # Deleting a document in one tenant leaves the same document id in the other alone.
    with harness.transaction() as tx:
        index.delete_document(tx, other, "doc-0")
    assert index.count(tenant) == 50
    assert index.count(other) == 24


# --------------------------------------------------------------------------- replace / delete


def _doc(version: str, vectors: np.ndarray) -> list[IndexEntry]:
    words = {"v1": "obsolete walrus", "v2": "fresh narwhal"}[version]
    return [
        entry(
            f"{version}-c{i}", "doc", vectors[i], text=f"{words} {i}", metadata={"version": version}
        )
        for i in range(len(vectors))
    ]


def test_upsert_replaces_the_documents_entries(harness: IndexHarness, tenant: TenantId) -> None:
    rng = np.random.default_rng(41)
    v1, v2 = _doc("v1", unit(rng, 4)), _doc("v2", unit(rng, 3))
    put(harness, tenant, v1)
    put(harness, tenant, v2)
    index = harness.index
    assert index.count(tenant) == 3
    assert sparse(index, tenant, "walrus") == []
    assert set(ids(sparse(index, tenant, "narwhal"))) == {e.chunk_id for e in v2}
    for e in v1:
        assert all(not h.chunk_id.startswith("v1") for h in dense(index, tenant, e.vector, k=10))
    assert_matches_oracle(dense(index, tenant, v2[0].vector, k=3), oracle(v2, v2[0].vector, 3))


def test_a_document_larger_than_any_write_batch_is_written_and_replaced_whole(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """Adapters write a big document's entries in batches (bounded memory); the document
    still appears, and is replaced, as one: every entry of every batch is searchable."""
    rng = np.random.default_rng(45)
    v1 = [
        entry(f"big-{i:05d}", "doc", v, text=f"walrus tusk{i}")
        for i, v in enumerate(unit(rng, 1300))
    ]
    put(harness, tenant, v1)
    index = harness.index
    assert index.count(tenant) == 1300
    for e in (v1[0], v1[700], v1[-1]):
        assert ids(dense(index, tenant, e.vector, k=1)) == [e.chunk_id]
    assert ids(sparse(index, tenant, "tusk1299")) == ["big-01299"]
    assert len(sparse(index, tenant, "walrus", k=2000)) == 1300
    v2 = _doc("v2", unit(rng, 600))
    put(harness, tenant, v2)
    assert index.count(tenant) == 600
    assert sparse(index, tenant, "walrus") == [] and sparse(index, tenant, "tusk5") == []
    assert_matches_oracle(dense(index, tenant, v2[-1].vector, k=3), oracle(v2, v2[-1].vector, 3))


def test_failed_transaction_leaves_previous_version_searchable(
    harness: IndexHarness, tenant: TenantId
) -> None:
    rng = np.random.default_rng(42)
    v1, v2 = _doc("v1", unit(rng, 4)), _doc("v2", unit(rng, 3))
    put(harness, tenant, v1)
    index = harness.index

    class Boom(Exception):
        pass

    with pytest.raises(Boom), harness.transaction() as tx:
        index.upsert_document(tx, tenant, "doc", v2)
        raise Boom
    assert index.count(tenant) == 4
    assert set(ids(sparse(index, tenant, "walrus"))) == {e.chunk_id for e in v1}
    assert sparse(index, tenant, "narwhal") == []
    assert_matches_oracle(dense(index, tenant, v1[1].vector, k=4), oracle(v1, v1[1].vector, 4))

    with pytest.raises(Boom), harness.transaction() as tx:
        index.delete_document(tx, tenant, "doc")
        raise Boom
    assert index.count(tenant) == 4


def test_upsert_with_no_entries_clears_the_document(
    harness: IndexHarness, tenant: TenantId
) -> None:
    put(harness, tenant, _doc("v1", unit(np.random.default_rng(43), 2)))
    with harness.transaction() as tx:
        harness.index.upsert_document(tx, tenant, "doc", [])
    assert harness.index.count(tenant) == 0


def test_delete_removes_from_dense_and_sparse(harness: IndexHarness, tenant: TenantId) -> None:
    rng = np.random.default_rng(44)
    keep = [entry(f"k{i}", "keep", v, text="common term") for i, v in enumerate(unit(rng, 5))]
    gone = [
        entry(f"g{i}", "gone", v, text="common term unique") for i, v in enumerate(unit(rng, 5))
    ]
    put(harness, tenant, keep + gone)
    index = harness.index
    with harness.transaction() as tx:
        index.delete_document(tx, tenant, "gone")
    assert index.count(tenant) == 5
    assert sparse(index, tenant, "unique") == []
    assert set(ids(sparse(index, tenant, "common", k=20))) == {e.chunk_id for e in keep}
    for e in gone:
        assert set(ids(dense(index, tenant, e.vector, k=20))) == {x.chunk_id for x in keep}
    with harness.transaction() as tx:
        index.delete_document(tx, tenant, "never-existed")  # a no-op, not an error
    # The deleted chunk ids can be indexed again.
    put(harness, tenant, gone)
    assert index.count(tenant) == 10


def test_version_changes_with_every_committed_write_only(
    harness: IndexHarness, tenant: TenantId
) -> None:
    rng = np.random.default_rng(45)
    index = harness.index
    v0 = index.version(tenant)
    assert index.version(tenant) == v0  # reading does not move it
    put(harness, tenant, [entry("a0", "a", v) for v in unit(rng, 1)])
    v1 = index.version(tenant)
    assert v1 != v0
    dense(index, tenant, unit(rng, 1)[0])
    assert index.version(tenant) == v1
    with pytest.raises(RuntimeError), harness.transaction() as tx:
        index.delete_document(tx, tenant, "a")
        raise RuntimeError("roll back")
    assert index.version(tenant) == v1  # a rolled-back write leaves no trace
    with harness.transaction() as tx:
        index.delete_document(tx, tenant, "a")
    v2 = index.version(tenant)
    assert v2 not in (v0, v1)
    other = TenantId(f"{tenant}-other")
    put(harness, other, [entry("b0", "b", v) for v in unit(rng, 1)])
    assert index.version(tenant) == v2  # another tenant's write is not ours


# --------------------------------------------------------------------------- permissions


def _access_corpus(tenant: TenantId, n: int = 240) -> list[IndexEntry]:
    """Chunks in four collections; every third document has an allow-list. The closest
    and best-matching chunks are the unreadable ones (collection ``hr``), so a backend that
    filtered after ranking would return fewer than ``k``."""
    rng = np.random.default_rng(21)
    vecs = unit(rng, n)
    collections = ["hr", "default", "eng", "legal"]
    readers = [(), ("u:ann",), ("g:hr", "u:bob"), ()]
    out = []
    for i in range(n):
        doc = i // 4
        e = entry(
            f"{tenant}-p{i:04d}",
            f"doc-{doc:03d}",
            vecs[i],
            text="chunk number payroll salary" if i % 4 == 0 else "chunk number payroll",
            metadata={"n": i},
        )
        out.append(
            IndexEntry(
                e.chunk_id,
                e.document_id,
                e.source,
                e.title,
                e.text,
                e.vector,
                e.metadata,
                collection_id=collections[doc % 4],
                readers=readers[doc % 3] if doc % 4 else (),
            )
        )
    return out


def _readable(e: IndexEntry, flt: Any) -> bool:
    if e.collection_id not in flt.collections:
        return False
    return flt.principals is None or not e.readers or bool(set(e.readers) & set(flt.principals))


@pytest.mark.parametrize(
    "collections, principals",
    [
        (("default", "eng"), ("*", "u:ann")),
        (("eng",), ("*", "g:hr")),
        (("legal", "default"), None),  # an admin narrowed to collections: no allow-lists
        (("default",), ("*",)),
        (("nope",), ("*",)),
        ((), ("*",)),
    ],
)
def test_access_filter_is_applied_inside_every_mode(
    harness: IndexHarness, tenant: TenantId, collections: Any, principals: Any
) -> None:
    from ragd.domain.access import AccessFilter

    corpus = _access_corpus(tenant)
    put(harness, tenant, corpus)
    flt = AccessFilter(collections, principals)
    filters = SearchFilters(access=flt)
    expected = {e.chunk_id for e in corpus if _readable(e, flt)}
    got = _filter_modes(harness.index, tenant, filters)
    assert got == {"dense": expected, "sparse": expected, "hybrid": expected}
    # top_k is filled with readable chunks, in the oracle's order, with its scores
    for query in unit(np.random.default_rng(22), 3):
        hits = dense(harness.index, tenant, query, k=10, filters=filters)
        assert_matches_oracle(hits, oracle(corpus, query, 10, lambda e: _readable(e, flt)))
    top = sparse(harness.index, tenant, "salary payroll", k=5, filters=filters)
    assert len(top) == min(5, len(expected))
    assert set(ids(top)) <= expected


def test_access_filter_combines_with_other_filters_and_unknown_collection_reads_default(
    harness: IndexHarness, tenant: TenantId
) -> None:
    """An entry written before collections existed (plain metadata, no access keys) is in
    the default collection with no allow-list; a forged reserved key is dropped."""
    from ragd.domain.access import AccessFilter

    rng = np.random.default_rng(23)
    vecs = unit(rng, 3)
    old = entry("old", "d-old", vecs[0], text="payroll", metadata={"k": 1})
    forged = IndexEntry(
        "forged", "d-f", "s", "", "payroll", vecs[1], {"_ragd_c": "eng", "k": 1}, "hr"
    )
    eng = IndexEntry("eng", "d-e", "s", "", "payroll", vecs[2], {"k": 2}, "eng")
    put(harness, tenant, [old, forged, eng])
    default_only = SearchFilters(access=AccessFilter(("default",), ("*",)))
    eng_only = SearchFilters(metadata={"k": 2}, access=AccessFilter(("eng",), ("*",)))
    assert ids(sparse(harness.index, tenant, "payroll", filters=default_only)) == ["old"]
    assert ids(sparse(harness.index, tenant, "payroll", filters=eng_only)) == ["eng"]
    eng_k1 = SearchFilters(metadata={"k": 1}, access=AccessFilter(("eng",), ("*",)))
    assert ids(sparse(harness.index, tenant, "payroll", filters=eng_k1)) == []
