"""GraphStore contract: every graph adapter must pass this suite: the Store's tables on
SQLite and on Postgres (where ragd's role is under row-level security), and the Neo4j
adapter, its Cypher run on FalkorDB (``tests/falkordb.py`` says what that does and does
not cover) with its outbox in a SQLite Store, drained after each commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ragd.adapters.graph.neo4j.factory import on_runner
from ragd.adapters.graph.neo4j.sync import Neo4jGraphSync
from ragd.adapters.graph.sql import SqlGraphStore
from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.store import SqlStore
from ragd.domain.graph import (
    ChunkExtraction,
    EntityMatch,
    ExtractedEntity,
    ExtractedRelation,
    Extraction,
    GraphStats,
    normalise_name,
)
from ragd.domain.models import Chunk, Document, DocumentStatus, NewDocument, TenantId
from ragd.errors import InvalidRequest
from ragd.ports.graph import GraphStore
from tests.contract.conftest import BACKENDS, database_url_for
from tests.falkordb import FalkorRunner, falkordb_server, new_graph

A, B = TenantId("tenant-a"), TenantId("tenant-b")


@dataclass
class Harness:
    store: SqlStore
    graph: GraphStore
    sync: Neo4jGraphSync | None = None

    def synced(self) -> None:
        """After a commit: an external graph applies its outbox."""
        if self.sync is not None:
            self.sync.drain()

    def document(
        self, tenant: TenantId, source: str, texts: list[str]
    ) -> tuple[Document, list[Chunk]]:
        """An indexed document with one chunk per text."""
        self.store.ensure_tenant(tenant)
        with self.store.transaction() as tx:
            doc = self.store.create_document(
                tx, tenant, NewDocument(source, source, "text/plain", f"h-{source}", 1, {})
            )
        return doc, self.reindex(tenant, doc.id, texts)

    def reindex(self, tenant: TenantId, doc_id: str, texts: list[str]) -> list[Chunk]:
        """Index the document (again) at its current version with these chunks."""
        doc = self.store.get_document(tenant, doc_id)
        chunks = [
            Chunk(f"{doc.id}:{doc.version}:{i}", doc.id, tenant, i, t, 0, len(t), 3)
            for i, t in enumerate(texts)
        ]
        with self.store.transaction() as tx:
            self.graph.remove_document(tx, tenant, doc.id)
            self.store.replace_chunks(tx, tenant, doc.id, chunks)
            self.store.set_status(
                tx, tenant, doc.id, DocumentStatus.INDEXED, chunk_count=len(chunks)
            )
        self.synced()
        return chunks

    def write(self, tenant: TenantId, doc_id: str, items: list[tuple[Chunk, Extraction]]) -> bool:
        version = self.store.get_document(tenant, doc_id).version
        with self.store.transaction() as tx:
            done = self.graph.write_document(
                tx, tenant, doc_id, version, [ChunkExtraction(c.id, e) for c, e in items]
            )
        self.synced()
        return done

    def seeds(self, tenant: TenantId, *names: str) -> list[EntityMatch]:
        return self.graph.match_entities(tenant, [normalise_name(n) for n in names], limit=10)


def ex(
    *names: str, rel: tuple[str, str] | None = None, aliases: dict[str, str] | None = None
) -> Extraction:
    aliases = aliases or {}
    entities = tuple(
        ExtractedEntity(n, "name", (aliases[n],) if n in aliases else ()) for n in names
    )
    relations = (ExtractedRelation(rel[0], rel[1], "tested_by"),) if rel else ()
    return Extraction(entities, relations)


@pytest.fixture(scope="session")
def falkordb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with falkordb_server(tmp_path_factory.mktemp("falkordb")) as socket:
        yield socket


@pytest.fixture(params=[*BACKENDS, "neo4j-cypher"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    backend = "sqlite" if request.param == "neo4j-cypher" else request.param
    db = Database(database_url_for(backend, request, tmp_path))
    migrate.upgrade(db)
    store = SqlStore(db)
    if request.param == "neo4j-cypher":
        runner = FalkorRunner(request.getfixturevalue("falkordb"), new_graph())
        graph, sync = on_runner(db, runner)
        yield Harness(store, graph, sync)
        runner.close()
    else:
        yield Harness(store, SqlGraphStore(db))
    store.close()


def _two_hop(h: Harness, tenant: TenantId = A) -> tuple[list[Chunk], list[Chunk]]:
    """Doc 1: Aspirin tested by Hallbrook Group. Doc 2: Hallbrook Group studied Protein Y."""
    d1, c1 = h.document(tenant, "one.txt", ["aspirin text", "filler"])
    d2, c2 = h.document(tenant, "two.txt", ["protein text"])
    assert h.write(
        tenant,
        d1.id,
        [(c1[0], ex("Aspirin", "Hallbrook Group", rel=("Aspirin", "Hallbrook Group")))],
    )
    assert h.write(
        tenant,
        d2.id,
        [(c2[0], ex("the Hallbrook group", "Protein Y", rel=("Hallbrook Group", "Protein Y")))],
    )
    return c1, c2


def test_entities_merge_by_normalised_name_across_documents(h: Harness) -> None:
    _two_hop(h)
    stats = h.graph.stats(A)
    assert (stats.entities, stats.relations, stats.documents) == (3, 2, 2)
    [group] = h.seeds(A, "HALLBROOK-GROUP")
    assert group.key == "hallbrook group" and group.score == 1.0


def test_aliases_match_and_merge(h: Harness) -> None:
    d, c = h.document(A, "tnf.txt", ["a", "b"])
    h.write(
        A,
        d.id,
        [
            (c[0], ex("tumour necrosis factor", aliases={"tumour necrosis factor": "TNF"})),
            (c[1], ex("TNF", "IL-6", rel=("TNF", "IL-6"))),  # the acronym alone: same entity
        ],
    )
    [m] = h.seeds(A, "tnf")
    assert m.name == "tumour necrosis factor"
    assert h.graph.stats(A).entities == 2
    hood = h.graph.neighbourhood(A, [m], hops=1, max_edges=10, max_chunks=10)
    assert {r.target for r in hood.relations} | {r.source for r in hood.relations} >= {"IL-6"}


def test_one_hop_and_two_hops(h: Harness) -> None:
    c1, c2 = _two_hop(h)
    seeds = h.seeds(A, "Protein Y")
    one = h.graph.neighbourhood(A, seeds, hops=1, max_edges=10, max_chunks=10)
    assert [c.chunk_id for c in one.chunks] == [c2[0].id]
    two = h.graph.neighbourhood(A, seeds, hops=2, max_edges=10, max_chunks=10)
    got = [c.chunk_id for c in two.chunks]
    assert got == [c2[0].id, c1[0].id]  # the hop-2 chunk ranks below the hop-1 one
    assert two.chunks[1].hops == 2
    used = {(r.source, r.target, r.hops): r.chunk_ids for r in two.relations}
    assert used[("Aspirin", "Hallbrook Group", 2)] == (c1[0].id,)
    assert c1[1].id not in got  # the filler chunk states no relation


def test_bounds_are_kept_and_checked(h: Harness) -> None:
    d, c = h.document(A, "hub.txt", [f"t{i}" for i in range(60)])
    h.write(
        A, d.id, [(c[i], ex("Hub", f"Spoke {i}", rel=("Hub", f"Spoke {i}"))) for i in range(60)]
    )
    seeds = h.seeds(A, "hub")
    hood = h.graph.neighbourhood(A, seeds, hops=2, max_edges=5, max_chunks=7)
    assert len(hood.chunks) <= 7
    assert len([r for r in hood.relations if r.hops == 1]) == 5
    for bad in ({"hops": 3}, {"hops": 0}, {"max_edges": 0}, {"max_chunks": 0}):
        kw = {"hops": 1, "max_edges": 5, "max_chunks": 5} | bad
        with pytest.raises(InvalidRequest):
            h.graph.neighbourhood(A, seeds, **kw)  # type: ignore[arg-type]


def test_reads_never_cross_tenants(h: Harness) -> None:
    _two_hop(h, A)
    _two_hop(h, B)
    seeds_a = h.seeds(A, "Protein Y", "Hallbrook Group", "Aspirin")
    assert len(seeds_a) == 3
    assert not {s.entity_id for s in seeds_a} & {
        s.entity_id for s in h.seeds(B, "Protein Y", "Hallbrook Group", "Aspirin")
    }
    # A's read handed B's entity ids returns nothing of B's.
    hood = h.graph.neighbourhood(A, h.seeds(B, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert hood.chunks == [] and hood.relations == []
    assert h.graph.stats(A).entities == 3 and h.graph.stats(B).entities == 3
    assert h.graph.match_entities(TenantId("nobody"), ["protein y"], limit=5) == []


def test_deleting_a_document_removes_only_what_it_alone_supported(h: Harness) -> None:
    c1, c2 = _two_hop(h)
    doc1 = c1[0].document_id
    with h.store.transaction() as tx:
        h.graph.remove_document(tx, A, doc1)
        h.store.delete_document(tx, A, doc1)
    h.synced()
    stats = h.graph.stats(A)
    assert (stats.entities, stats.relations, stats.documents) == (2, 1, 1)
    assert h.seeds(A, "Aspirin") == []  # only the deleted document named it
    hood = h.graph.neighbourhood(A, h.seeds(A, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert {c.chunk_id for c in hood.chunks} == {c2[0].id}
    doc2 = c2[0].document_id
    with h.store.transaction() as tx:
        h.graph.remove_document(tx, A, doc2)
        h.store.delete_document(tx, A, doc2)
    h.synced()
    stats = h.graph.stats(A)
    assert (stats.entities, stats.relations, stats.links, stats.documents) == (0, 0, 0, 0)


def test_replacing_a_document_drops_the_old_version_and_goes_pending(h: Harness) -> None:
    c1, _ = _two_hop(h)
    doc1 = c1[0].document_id
    assert all(p[1] != doc1 for p in h.graph.pending_documents(10))
    with h.store.transaction() as tx:
        h.store.update_document_source(
            tx, A, doc1, NewDocument("one.txt", "one", "text/plain", "h-new", 1, {})
        )
    new = h.reindex(A, doc1, ["now about Ibuprofen"])
    assert h.seeds(A, "Aspirin") == []
    assert (A, doc1, 2) in h.graph.pending_documents(10)
    assert h.write(
        A,
        doc1,
        [(new[0], ex("Ibuprofen", "Hallbrook Group", rel=("Ibuprofen", "Hallbrook Group")))],
    )
    assert all(p[1] != doc1 for p in h.graph.pending_documents(10))
    hood = h.graph.neighbourhood(A, h.seeds(A, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert new[0].id in {c.chunk_id for c in hood.chunks}
    assert c1[0].id not in {c.chunk_id for c in hood.chunks}


def test_a_stale_write_writes_nothing(h: Harness) -> None:
    d, c = h.document(A, "s.txt", ["x"])
    with h.store.transaction() as tx:
        assert not h.graph.write_document(tx, A, d.id, 7, [ChunkExtraction(c[0].id, ex("Zeta"))])
        assert not h.graph.write_document(tx, B, d.id, 1, [ChunkExtraction(c[0].id, ex("Zeta"))])
    assert h.graph.stats(A).entities == 0 and h.graph.stats(B).entities == 0
    # A chunk id that is not the document's (another version, another document) is skipped.
    assert h.write(
        A,
        d.id,
        [(c[0], ex("Eta")), (c[0].__class__(**{**c[0].__dict__, "id": "x:9:0"}), ex("Theta"))],
    )
    assert h.seeds(A, "Theta") == [] and len(h.seeds(A, "Eta")) == 1


def test_writing_twice_is_idempotent(h: Harness) -> None:
    c1, _ = _two_hop(h)
    before = h.graph.stats(A)
    assert h.write(
        A,
        c1[0].document_id,
        [(c1[0], ex("Aspirin", "Hallbrook Group", rel=("Aspirin", "Hallbrook Group")))],
    )
    assert h.graph.stats(A) == before


def test_pending_lists_indexed_documents_without_a_graph(h: Harness) -> None:
    d, c = h.document(A, "p.txt", ["x"])
    h.store.ensure_tenant(B)
    with h.store.transaction() as tx:
        queued = h.store.create_document(
            tx, B, NewDocument("q.txt", "q", "text/plain", "hq", 1, {})
        )
    pending = h.graph.pending_documents(10)
    assert (A, d.id, 1) in pending and all(p[1] != queued.id for p in pending)
    assert h.write(A, d.id, [(c[0], Extraction())])  # nothing found is built, too
    assert all(p[1] != d.id for p in h.graph.pending_documents(10))


def test_extraction_cache_is_per_tenant(h: Harness) -> None:
    h.store.ensure_tenant(A)
    e = ex(
        "Aspirin", "Hallbrook Group", rel=("Aspirin", "Hallbrook Group"), aliases={"Aspirin": "ASA"}
    )
    h.graph.cache_extractions(A, {"k1": e})
    h.graph.cache_extractions(A, {"k1": Extraction()})  # first write wins (same text)
    assert h.graph.cached_extractions(A, ["k1", "k2"]) == {"k1": e}
    assert h.graph.cached_extractions(B, ["k1"]) == {}


def test_entity_vectors(h: Harness) -> None:
    _two_hop(h)
    v0 = h.graph.version(A)
    todo = h.graph.entities_without_vector(A, limit=10)
    assert sorted(n for _, n in todo) == ["Aspirin", "Hallbrook Group", "Protein Y"]
    rng = np.random.default_rng(0)
    vecs = {eid: rng.standard_normal(4).astype(np.float32) for eid, _ in todo}
    h.graph.set_entity_vectors(A, vecs)
    assert h.graph.entities_without_vector(A, limit=10) == []
    assert h.graph.version(A) != v0
    entities, matrix = h.graph.entity_vectors(A, limit=10)
    assert matrix.shape == (3, 4)
    for e, row in zip(entities, matrix, strict=True):
        assert np.array_equal(row, vecs[e.entity_id])
    assert h.graph.entity_vectors(B, limit=10)[0] == []


def test_the_replica_reconciles_with_the_store(h: Harness) -> None:
    if h.sync is None:
        pytest.skip("the Store's own tables have no replica")
    c1, _ = _two_hop(h)
    assert h.sync.reconcile(repair=False) == {"documents_checked": 2, "drift": 0, "repaired": 0}
    # The replica loses a document behind the Store's back, and gains a stray one.
    runner = h.sync.runner
    runner.run(
        [
            (
                "MATCH (c:Chunk {tenant: $t, document_id: $d}) DETACH DELETE c",
                {"t": A, "d": c1[0].document_id},
            )
        ],
        write=True,
    )
    runner.run(
        [("MERGE (c:Chunk {tenant: $t, id: 'stray:1:0'}) SET c.document_id = 'stray'", {"t": A})],
        write=True,
    )
    runner.run(
        [
            (
                "MATCH (c:Chunk {tenant: $t, id: 'stray:1:0'}) MERGE (e:Entity {tenant: $t, id: 999999, name: 'Ghost'}) MERGE (e)-[:MENTIONED_IN]->(c)",
                {"t": A},
            )
        ],
        write=True,
    )
    hood = h.graph.neighbourhood(A, h.seeds(A, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert c1[0].id not in {c.chunk_id for c in hood.chunks}
    assert h.sync.reconcile(repair=True) == {"documents_checked": 3, "drift": 2, "repaired": 2}
    assert h.sync.reconcile(repair=False)["drift"] == 0
    hood = h.graph.neighbourhood(A, h.seeds(A, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert c1[0].id in {c.chunk_id for c in hood.chunks}
    assert h.sync.backlog() == 0


def test_erasing_a_tenant_removes_its_graph_and_cache_only(h: Harness) -> None:
    _two_hop(h, A)
    _two_hop(h, B)
    h.graph.cache_extractions(A, {"k": ex("Aspirin")})
    h.graph.cache_extractions(B, {"k": ex("Aspirin")})
    seeds_a = h.seeds(A, "Protein Y")
    assert h.graph.erase_tenant(A) > 0
    assert h.graph.stats(A) == GraphStats(0, 0, 0, 0)
    assert h.graph.cached_extractions(A, ["k"]) == {}
    assert h.graph.neighbourhood(A, seeds_a, hops=2, max_edges=10, max_chunks=10).chunks == []
    assert h.graph.stats(B).entities == 3 and h.graph.cached_extractions(B, ["k"])
    hood = h.graph.neighbourhood(B, h.seeds(B, "Protein Y"), hops=2, max_edges=10, max_chunks=10)
    assert len(hood.chunks) == 2


def test_a_delete_committing_during_a_write_skips_the_document(
    h: Harness, request: pytest.FixtureRequest
) -> None:
    """The worker's graph turn read the chunks; a delete commits before its mentions are
    inserted. On Postgres the mentions' foreign key then fails (CI saw it crash the worker
    thread); the write must return without raising and leave nothing behind."""
    if "postgres" not in request.node.callspec.params["h"]:
        pytest.skip("only Postgres runs the two transactions at once")
    doc, chunks = h.document(A, "raced.txt", ["aspirin text"])
    outcome: list[object] = []
    with h.store.transaction() as tx:  # the delete, holding its row locks
        h.store.replace_chunks(tx, A, doc.id, [])
        writer = threading.Thread(
            target=lambda: outcome.append(
                _try(lambda: h.write(A, doc.id, [(chunks[0], ex("Aspirin", "Hallbrook"))]))
            )
        )
        writer.start()
        time.sleep(1.0)  # the writer reaches the mention insert and waits on our lock
    writer.join(timeout=30)
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert outcome[0] is False  # not built: the document is pending again at its next version
    assert h.graph.stats(A).links == 0


def _try(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except Exception as exc:  # the outcome under test
        return exc
