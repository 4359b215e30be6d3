"""The Qdrant index behind its outbox, wired as ``VECTOR_STORE_TYPE=qdrant`` wires it, with
the Store on SQLite and on Postgres and Qdrant in qdrant-client's local mode.

The sync is kept out of the worker (``RAGD_OUTBOX_SYNC_IN_WORKER=false``) so each test
decides when the index catches up: a deleted or replaced document must never be returned
once the Store committed the change, however far behind the sync is, and a reindex must
swap collections without losing a write made while it built.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragd.domain.models import TenantId
from ragd.ports.index import IndexQuery
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.reconcile import ReconcileService
from ragd.worker import build_worker
from tests.conftest import make_settings
from tests.contract.conftest import (  # noqa: F401 - fixtures
    BACKENDS,
    database_url_for,
    pg_database,
    pg_session_database,
    pg_url,
)

pytest.importorskip("qdrant_client")

MODES = ("dense", "sparse", "hybrid")


@pytest.fixture(params=BACKENDS)
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    url = database_url_for(request.param, request, tmp_path)
    settings = make_settings(
        tmp_path / "data",
        database_url=url,
        vector_store_type="qdrant",
        qdrant_url=":memory:",
        outbox_sync_in_worker=False,
    )
    migrate_database(settings)
    services = build_services(settings)
    yield services
    services.close()


def _ingest(svc: Services, tenant: TenantId, texts: dict[str, str]) -> dict[str, str]:
    """Submit and index ``source -> text``; returns ``source -> document id``. The outbox
    rows stay pending (the worker does not sync in these tests)."""
    ids = {
        src: svc.ingest.submit_text(tenant, text, source=src).document.id
        for src, text in texts.items()
    }
    build_worker(svc).run(until_idle=True)
    return ids


def _docs_found(svc: Services, tenant: TenantId, query: str, k: int = 50) -> dict[str, set[str]]:
    """Documents each mode returns, through the search service and through the index."""
    out: dict[str, set[str]] = {}
    for mode in MODES:
        hits = svc.search.search(tenant, query, mode=mode, k=k).hits  # type: ignore[arg-type]
        out[mode] = {h.document_id for h in hits}
        vector = svc.embedder.embed_query(query) if mode != "sparse" else None
        scored = svc.index.search(tenant, IndexQuery(query, vector, mode=mode, k=k))  # type: ignore[arg-type]
        out[f"index-{mode}"] = {c.chunk_id.split(":")[0] for c in scored}
    return out


CORPUS = {
    f"doc{i}": f"Zebra{i} grazing report {i}: common savanna words about herds." for i in range(6)
}


def test_a_delete_is_never_returned_while_the_sync_is_behind(
    svc: Services, tenant: TenantId
) -> None:
    ids = _ingest(svc, tenant, CORPUS)
    assert svc.index_sync is not None
    assert svc.index_sync.drain() == len(CORPUS)
    gone = ids["doc0"]
    assert gone in _docs_found(svc, tenant, "zebra0 savanna")["sparse"]

    svc.ingest.delete(tenant, gone)  # commits the chunks' deletion and an outbox row
    assert svc.index_sync.backlog() == 1
    assert svc.index.document_chunk_ids(tenant, gone)  # Qdrant still holds its points
    found = _docs_found(svc, tenant, "zebra0 savanna")
    for mode, docs in found.items():
        assert gone not in docs, mode
        assert docs == set(ids.values()) - {gone}, mode  # and the rest is all there

    assert svc.index_sync.drain() == 1
    assert not svc.index.document_chunk_ids(tenant, gone)
    assert all(gone not in docs for docs in _docs_found(svc, tenant, "zebra0 savanna").values())


def test_a_replaced_document_never_shows_its_old_text(svc: Services, tenant: TenantId) -> None:
    ids = _ingest(svc, tenant, {"a": "the old walrus text", "b": "unrelated narwhal notes"})
    assert svc.index_sync is not None
    svc.index_sync.drain()
    _ingest(svc, tenant, {"a": "the fresh pelican text"})  # same source: replaced
    assert svc.search.search(tenant, "walrus", mode="sparse").hits == []
    assert svc.search.search(tenant, "pelican", mode="sparse").hits == []  # not applied yet
    svc.index_sync.drain()
    assert svc.search.search(tenant, "walrus", mode="sparse").hits == []
    (hit,) = svc.search.search(tenant, "pelican", mode="sparse").hits
    assert hit.document_id == ids["a"]


def test_a_delete_racing_the_sync_is_never_returned(
    svc: Services, tenant: TenantId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Searches run while the sync applies deletes, with a pause between Qdrant's write
    and the Store's record of it (the window a lagging check would fall into)."""
    texts = {f"r{i}": f"Racing item {i} with shared words about racing." for i in range(12)}
    ids = _ingest(svc, tenant, texts)
    assert svc.index_sync is not None
    svc.index_sync.drain()
    doomed = {ids[f"r{i}"] for i in range(0, 12, 2)}
    for doc in doomed:
        svc.ingest.delete(tenant, doc)

    outbox: Any = svc.index_sync.outbox  # type: ignore[attr-defined]
    real_mark = outbox.mark_applied

    def slow_mark(owner: str, rows: Any) -> None:
        time.sleep(0.1)
        real_mark(owner, rows)

    monkeypatch.setattr(outbox, "mark_applied", slow_mark)
    monkeypatch.setattr(svc.index_sync, "batch_size", 1)
    sync = threading.Thread(target=svc.index_sync.drain)
    sync.start()
    searches = during = 0
    while sync.is_alive() or searches < 5:
        during += sync.is_alive()
        for mode in MODES:
            vec = svc.embedder.embed_query("racing shared") if mode != "sparse" else None
            hits = svc.index.search(tenant, IndexQuery("racing shared", vec, mode=mode, k=50))  # type: ignore[arg-type]
            returned = {h.chunk_id.split(":")[0] for h in hits}
            assert not returned & doomed, mode
            assert returned == set(ids.values()) - doomed, mode
        searches += 1
    sync.join()
    assert during >= 3  # searches did overlap the applies
    assert svc.index_sync.backlog() == 0


def test_version_moves_with_commit_and_with_apply(svc: Services, tenant: TenantId) -> None:
    v0 = svc.index.version(tenant)
    _ingest(svc, tenant, {"x": "some text"})
    v1 = svc.index.version(tenant)
    assert svc.index_sync is not None
    svc.index_sync.drain()
    v2 = svc.index.version(tenant)
    assert len({v0, v1, v2}) == 3


def test_reindex_swaps_collections_without_losing_writes_made_meanwhile(
    svc: Services, tenant: TenantId, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _ingest(svc, tenant, CORPUS)
    assert svc.index_sync is not None
    svc.index_sync.drain()
    index: Any = svc.index
    live_before = index.collections.live()
    seen_during_build: list[set[str]] = []

    def during_build() -> None:
        # Searches still use the live collection...
        seen_during_build.append(_docs_found(svc, tenant, "savanna herds")["hybrid"])
        # ...and writes keep coming: a delete and a new document, applied by the sync
        # to the live collection, and a replacement still pending at the swap.
        svc.ingest.delete(tenant, ids["doc1"])
        ids.update(_ingest(svc, tenant, {"new": "A new savanna herds document."}))
        svc.index_sync.drain()
        _ingest(svc, tenant, {"doc2": "Rewritten: savanna herds, second edition."})

    real_start = index.start_build

    def start_build() -> Any:
        build = real_start()
        real_publish = build.publish

        def publish(refresh: Any) -> None:
            during_build()
            real_publish(refresh)

        build.publish = publish
        return build

    monkeypatch.setattr(index, "start_build", start_build)
    report = svc.reindex.run()
    assert report.staged and report.documents == len(CORPUS)
    assert seen_during_build == [set(ids.values()) - {ids["new"]}]
    live_after = index.collections.live()
    assert live_after != live_before
    assert index.collections.versions() == [live_after]  # the old one was dropped

    expected = set(ids.values()) - {ids["doc1"], ids["doc2"]}  # doc2: pending
    assert _docs_found(svc, tenant, "savanna herds")["hybrid"] == expected
    svc.index_sync.drain()
    assert _docs_found(svc, tenant, "savanna herds")["hybrid"] == expected | {ids["doc2"]}
    assert (
        svc.search.search(tenant, "rewritten edition", mode="sparse").hits[0].document_id
        == ids["doc2"]
    )
    drift = ReconcileService(svc.store, svc.index, svc.embedder, svc.index_sync).run(repair=False)
    assert (drift.missing, drift.orphans) == (0, 0)
    assert index.count(tenant) == svc.store.count_chunks(tenant)


def test_reconcile_reports_and_repairs_drift(svc: Services, tenant: TenantId) -> None:
    from ragd.adapters.index.qdrant import ops as qdrant_ops
    from ragd.adapters.index.qdrant.points import PointData
    from ragd.observability import metrics

    ids = _ingest(svc, tenant, CORPUS)
    assert svc.index_sync is not None
    svc.index_sync.drain()
    index: Any = svc.index
    victim = sorted(index.document_chunk_ids(tenant, ids["doc3"]))[0]
    index.remove_chunks(tenant, [victim])  # lost behind ragd's back
    stray = PointData("ghost:1:0", "nowhere", {}, np.ones(64, np.float32) / 8, [1], [1.0])
    index.collections.write(qdrant_ops.replace_document(tenant, "ghost", [stray]))

    reconcile = ReconcileService(svc.store, svc.index, svc.embedder, svc.index_sync)
    found = reconcile.run(repair=False)
    assert (found.missing, found.orphans) == (1, 1)
    assert metrics.INDEX_DRIFT.labels("missing")._value.get() == 1
    assert metrics.INDEX_DRIFT.labels("orphan")._value.get() == 1
    last = svc.index_sync.last_drift()
    assert last is not None and (last.missing, last.orphans, last.repaired) == (1, 1, False)

    fixed = reconcile.run(repair=True)
    assert (fixed.repaired_documents, fixed.removed_orphans) == (1, 1)
    again = reconcile.run(repair=False)
    assert (again.missing, again.orphans) == (0, 0)
    assert index.count(tenant) == svc.store.count_chunks(tenant)
    assert metrics.INDEX_DRIFT.labels("orphan")._value.get() == 0


def test_server_side_fusion_agrees_with_ragds_for_equal_weights(
    svc: Services, tenant: TenantId
) -> None:
    from ragd.adapters.index.qdrant import QdrantIndex

    # Distinct lengths and term counts: no ties, whose order each side breaks its own way.
    texts = {
        f"f{i}": " ".join(
            ["alpha"] * (1 + i % 4) + ["words"] * (1 + i % 3) + [f"filler{j}" for j in range(i)]
        )
        for i in range(30)
    }
    _ingest(svc, tenant, texts)
    assert svc.index_sync is not None
    svc.index_sync.drain()
    client_side: Any = svc.index
    server_side = QdrantIndex(
        client_side.collections, client_side.outbox, client_side.spec, fusion="server"
    )
    vec = svc.embedder.embed_query("alpha words")
    q = IndexQuery("alpha words", vec, mode="hybrid", k=10, candidates=30, rrf_k=60)
    ours, theirs = client_side.search(tenant, q), server_side.search(tenant, q)
    # Same fused scores; equal sums (ranks (a, b) and (b, a)) may be ordered differently.
    assert [h.score for h in theirs] == pytest.approx([h.score for h in ours], abs=1e-9)
    mine = {h.chunk_id: h for h in ours}
    common = [h for h in theirs if h.chunk_id in mine]
    assert len(common) >= len(ours) - 1
    for b in common:  # the cosine, recomputed from the returned vector
        a = mine[b.chunk_id]
        assert b.score == pytest.approx(a.score, abs=1e-9)
        if a.similarity is not None:
            assert b.similarity == pytest.approx(a.similarity, abs=1e-5)


def test_a_tenant_sees_only_its_own_points(svc: Services) -> None:
    a, b = (TenantId(f"t-{uuid.uuid4().hex[:8]}") for _ in range(2))
    _ingest(svc, a, {"s": "shared secret words alpha"})
    _ingest(svc, b, {"s": "shared secret words beta"})
    assert svc.index_sync is not None
    svc.index_sync.drain()
    for tenant, word in ((a, "alpha"), (b, "beta")):
        for mode in MODES:
            hits = svc.search.search(tenant, "shared secret words", mode=mode).hits  # type: ignore[arg-type]
            assert len(hits) == 1 and word in hits[0].text
