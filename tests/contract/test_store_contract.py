"""Store contract: every Store adapter must pass this suite (SQLite and Postgres)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.store import SqlStore
from ragd.domain.models import Chunk, DocumentStatus, NewDocument, TenantId
from ragd.errors import InvalidRequest, NotFound
from tests.contract.conftest import BACKENDS, database_url_for


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    db = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(db)
    s = SqlStore(db)
    yield s
    s.close()


def _new(source: str = "a.txt", content_hash: str = "h1", **kw: object) -> NewDocument:
    return NewDocument(
        source=source,
        title=source,
        media_type="text/plain",
        content_hash=content_hash,
        size_bytes=10,
        metadata=dict(kw),
    )


def _chunks(tenant: TenantId, doc_id: str, texts: list[str], version: int = 1) -> list[Chunk]:
    return [
        Chunk(
            f"{doc_id}:{version}:{i}",
            doc_id,
            tenant,
            i,
            t,
            0,
            len(t),
            3,
            page=1,
            heading_path=("H",),
        )
        for i, t in enumerate(texts)
    ]


def _create(store: SqlStore, tenant: TenantId, new: NewDocument) -> str:
    store.ensure_tenant(tenant)
    with store.transaction() as tx:
        return store.create_document(tx, tenant, new).id


def test_create_get_find_roundtrip(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new(lang="en", year=2024))
    doc = store.get_document(tenant, doc_id)
    assert (doc.source, doc.status, doc.version, doc.metadata) == (
        "a.txt",
        DocumentStatus.QUEUED,
        1,
        {"lang": "en", "year": 2024},
    )
    assert doc.created_at.tzinfo is not None
    assert store.find_document(tenant, content_hash="h1").id == doc_id  # type: ignore[union-attr]
    assert store.find_document(tenant, source="a.txt").id == doc_id  # type: ignore[union-attr]
    assert store.find_document(tenant, source="missing") is None


def test_tenants_never_see_each_other(store: SqlStore, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-other")
    mine = _create(store, tenant, _new())
    theirs = _create(store, other, _new())
    with store.transaction() as tx:
        store.replace_chunks(tx, other, theirs, _chunks(other, theirs, ["secret"]))
    with pytest.raises(NotFound):
        store.get_document(tenant, theirs)
    assert [d.id for d in store.list_documents(tenant)] == [mine]
    assert store.find_document(tenant, content_hash="h1").id == mine  # type: ignore[union-attr]
    assert store.get_chunks(tenant, [f"{theirs}:1:0"]) == {}
    assert store.list_chunks(tenant, theirs) == []
    assert store.count_chunks(tenant) == 0 and store.count_chunks(other) == 1
    with store.transaction() as tx:
        assert store.delete_document(tx, tenant, theirs) is False
    assert store.get_document(other, theirs).id == theirs


def test_duplicate_source_is_invalid_request(store: SqlStore, tenant: TenantId) -> None:
    _create(store, tenant, _new())
    with pytest.raises(InvalidRequest):
        _create(store, tenant, _new(content_hash="h2"))


def test_update_source_bumps_version_and_requeues(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new())
    store.set_status(None, tenant, doc_id, DocumentStatus.FAILED, error="boom")
    with store.transaction() as tx:
        doc = store.update_document_source(tx, tenant, doc_id, _new(content_hash="h2"))
    assert (doc.version, doc.status, doc.error, doc.content_hash) == (
        2,
        DocumentStatus.QUEUED,
        None,
        "h2",
    )


def test_set_status_replaces_metadata_only_when_given(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new())
    store.set_status(None, tenant, doc_id, DocumentStatus.INDEXED, chunk_count=1)
    assert store.get_document(tenant, doc_id).metadata == {}
    merged = {"author": "Zoë", "language": "de", "created": "2024-03-05T14:03:00+01:00"}
    with store.transaction() as tx:
        store.set_status(tx, tenant, doc_id, DocumentStatus.INDEXED, metadata=merged)
    assert store.get_document(tenant, doc_id).metadata == merged
    store.set_status(None, tenant, doc_id, DocumentStatus.INDEXED)
    assert store.get_document(tenant, doc_id).metadata == merged


def test_replace_chunks_is_atomic_with_the_transaction(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new())
    with store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, _chunks(tenant, doc_id, ["one", "two"]))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, _chunks(tenant, doc_id, ["three"], version=2))
        raise RuntimeError("crash before commit")
    assert [c.text for c in store.list_chunks(tenant, doc_id)] == ["one", "two"]
    with store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, _chunks(tenant, doc_id, ["three"], version=2))
    chunks = store.list_chunks(tenant, doc_id)
    assert [c.text for c in chunks] == ["three"]
    assert chunks[0].heading_path == ("H",) and chunks[0].page == 1
    got = store.get_chunks(tenant, [chunks[0].id, "nope"])
    assert list(got) == [chunks[0].id] and got[chunks[0].id][1].id == doc_id


def test_chunk_of_another_tenant_is_refused(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new())
    with pytest.raises(InvalidRequest), store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, _chunks(TenantId("x"), doc_id, ["a"]))


def test_blobs_and_delete_cascade(store: SqlStore, tenant: TenantId) -> None:
    doc_id = _create(store, tenant, _new())
    with store.transaction() as tx:
        store.put_blob(tx, tenant, doc_id, b"\x00bytes")
        store.replace_chunks(tx, tenant, doc_id, _chunks(tenant, doc_id, ["a"]))
    assert store.get_blob(tenant, doc_id) == b"\x00bytes"
    with pytest.raises(NotFound):
        store.get_blob(TenantId("someone-else"), doc_id)
    with store.transaction() as tx:
        assert store.delete_document(tx, tenant, doc_id) is True
    with pytest.raises(NotFound):
        store.get_blob(tenant, doc_id)
    assert store.count_chunks(tenant) == 0
    with pytest.raises(NotFound):
        store.get_document(tenant, doc_id)


def test_list_filters_and_pagination(store: SqlStore, tenant: TenantId) -> None:
    ids = []
    for i in range(7):
        ids.append(_create(store, tenant, _new(source=f"doc-{i}.txt", content_hash=f"h{i}")))
        time.sleep(0.002)  # distinct creation times, so "newest first" has one answer
    newest_first = ids[::-1]
    store.set_status(None, tenant, ids[3], DocumentStatus.INDEXED, chunk_count=4)
    assert [d.id for d in store.list_documents(tenant)] == newest_first
    assert [d.id for d in store.list_documents(tenant, limit=3, offset=3)] == newest_first[3:6]
    assert [d.id for d in store.list_documents(tenant, status=DocumentStatus.INDEXED)] == [ids[3]]
    assert store.count_documents(tenant) == 7
    assert store.count_documents(tenant, status=DocumentStatus.QUEUED) == 6
    assert [d.source for d in store.list_documents(tenant, name_contains="doc-5")] == ["doc-5.txt"]
    assert store.list_documents(tenant, name_contains="%") == []  # LIKE wildcards are escaped
    assert store.get_document(tenant, ids[3]).chunk_count == 4


def test_count_documents_counts_what_the_list_pages_over(store: SqlStore, tenant: TenantId) -> None:
    for i, name in enumerate(["alpha-1.txt", "beta.txt", "alpha-2.txt", "50%.txt"]):
        _create(store, tenant, _new(source=name, content_hash=f"h{i}"))
    store.ensure_tenant(TenantId(f"{tenant}-other"))
    _create(store, TenantId(f"{tenant}-other"), _new(source="alpha-x.txt"))
    for name, status in [
        ("alpha", None),
        ("alpha-2", None),
        ("%", None),  # literal, not a wildcard
        ("_", None),
        ("nothing", None),
        ("alpha", DocumentStatus.QUEUED),
        ("alpha", DocumentStatus.INDEXED),
    ]:
        listed = store.list_documents(tenant, status=status, name_contains=name, limit=100)
        assert store.count_documents(tenant, status=status, name_contains=name) == len(listed)
    assert store.count_documents(tenant, name_contains="alpha") == 2
    assert store.count_documents(tenant, name_contains="%") == 1


def test_iter_indexed_chunks_covers_every_chunk_once(store: SqlStore, tenant: TenantId) -> None:
    expected = set()
    for i in range(5):
        doc_id = _create(store, tenant, _new(source=f"s{i}", content_hash=f"x{i}"))
        chunks = _chunks(tenant, doc_id, [f"t{j}" for j in range(i + 1)])
        with store.transaction() as tx:
            store.replace_chunks(tx, tenant, doc_id, chunks)
            store.set_status(
                tx, tenant, doc_id, DocumentStatus.INDEXED if i != 2 else DocumentStatus.FAILED
            )
        if i != 2:
            expected |= {c.id for c in chunks}
    seen = [c.id for batch in store.iter_indexed_chunks(batch_size=2) for c, _ in batch]
    assert len(seen) == len(set(seen)) and set(seen) >= expected
    assert not any(cid.startswith(store.find_document(tenant, source="s2").id) for cid in seen)  # type: ignore[union-attr]


def test_a_row_stored_before_the_upload_rules_reads_back_usable(
    store: SqlStore, tenant: TenantId
) -> None:
    """Metadata nested past what encoders recurse through, or a title past the limit (as
    an older version could store them), must not fail whoever reads the row."""
    deep: dict[str, object] = {"v": 1}
    for _ in range(500):
        deep = {"a": deep}
    doc_id = _create(
        store, tenant, NewDocument("old.txt", "T" * 20_000, "text/plain", "h", 1, deep)
    )
    with store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, _chunks(tenant, doc_id, ["a"]))
    for doc in (
        store.get_document(tenant, doc_id),
        store.list_documents(tenant)[0],
        *(d for _c, d in store.get_chunks(tenant, [f"{doc_id}:1:0"]).values()),
    ):
        assert doc.metadata == {} and len(doc.title) <= 500


def test_a_chunk_keeps_its_own_metadata(store: SqlStore, tenant: TenantId) -> None:
    """OCR confidence rides on the chunk, apart from its document's metadata; a chunk
    without any reads back with an empty dict (NULL in the column)."""
    doc_id = _create(store, tenant, _new(kind="scan"))
    read, typed = _chunks(tenant, doc_id, ["scanned words", "typed words"])
    read = replace(read, metadata={"ocr_engine": "rapidocr", "ocr_confidence": 0.9731})
    with store.transaction() as tx:
        store.replace_chunks(tx, tenant, doc_id, [read, typed])

    listed = store.list_chunks(tenant, doc_id)
    assert [c.metadata for c in listed] == [
        {"ocr_engine": "rapidocr", "ocr_confidence": 0.9731},
        {},
    ]
    chunk, doc = store.get_chunks(tenant, [read.id])[read.id]
    assert chunk.metadata["ocr_confidence"] == 0.9731
    assert doc.metadata == {"kind": "scan"}
