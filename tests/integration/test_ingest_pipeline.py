"""The ingestion pipeline on real SQLite: submit → worker → searchable, and every way it can go wrong."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from ragd.domain.filters import SearchFilters
from ragd.domain.models import DocumentStatus, JobState, TenantId
from ragd.errors import NotFound
from ragd.services.container import Services
from ragd.worker import build_worker


def drain(svc: Services) -> None:
    build_worker(svc).run(until_idle=True)


def texts_of(svc: Services, tenant: TenantId, query: str, **kw: object) -> list[str]:
    return [h.text for h in svc.search.search(tenant, query, **kw).hits]  # type: ignore[arg-type]


def test_text_document_becomes_searchable_in_every_mode(
    services: Services, tenant: TenantId
) -> None:
    sub = services.ingest.submit_text(
        tenant,
        "Honeybees perform a waggle dance to point at flowers.",
        title="Bees",
        metadata={"topic": "insects"},
    )
    assert sub.outcome == "queued" and sub.document.status == DocumentStatus.QUEUED
    drain(services)
    doc = services.store.get_document(tenant, sub.document.id)
    assert doc.status == DocumentStatus.INDEXED and doc.chunk_count == 1 and doc.error is None
    for mode in ("dense", "sparse", "hybrid"):
        hits = services.search.search(tenant, "waggle dance", mode=mode).hits  # type: ignore[arg-type]
        assert hits and hits[0].document_id == doc.id and hits[0].title == "Bees"
        assert hits[0].metadata["topic"] == "insects"  # the uploaded key (+ what is detected)
    with pytest.raises(NotFound):  # the bytes are dropped once the chunks are the truth
        services.store.get_blob(tenant, doc.id)


def test_identical_content_is_a_no_op(services: Services, tenant: TenantId) -> None:
    first = services.ingest.submit_text(tenant, "same words", source="a")
    drain(services)
    again = services.ingest.submit_text(tenant, "same words", source="a")
    assert again.outcome == "unchanged" and again.document.id == first.document.id
    assert services.queue.pending() == 0
    assert services.store.count_chunks(tenant) == 1


def test_changed_content_replaces_old_chunks_atomically(
    services: Services, tenant: TenantId
) -> None:
    v1 = services.ingest.submit_text(
        tenant, "The old policy allowed zebras in the office.", source="policy"
    )
    drain(services)
    v2 = services.ingest.submit_text(
        tenant, "The new policy allows giraffes in the garden.", source="policy"
    )
    assert v2.outcome == "replaced" and v2.document.id == v1.document.id
    # Until the new version is indexed, the old one stays searchable (never a gap).
    assert texts_of(services, tenant, "zebras", mode="sparse")
    drain(services)
    assert texts_of(services, tenant, "zebras", mode="sparse") == []
    assert texts_of(services, tenant, "giraffes", mode="sparse") == [
        "The new policy allows giraffes in the garden."
    ]
    doc = services.store.get_document(tenant, v1.document.id)
    assert doc.version == 2 and services.store.count_chunks(tenant) == 1


def test_delete_removes_document_chunks_and_index_entries(
    services: Services, tenant: TenantId
) -> None:
    sub = services.ingest.submit_text(tenant, "Volcanoes erupt molten rock called lava.")
    drain(services)
    services.ingest.delete(tenant, sub.document.id)
    for mode in ("dense", "sparse", "hybrid"):
        assert services.search.search(tenant, "volcano lava", mode=mode).hits == []  # type: ignore[arg-type]
    assert services.index.count(tenant) == 0 and services.store.count_chunks(tenant) == 0
    with pytest.raises(NotFound):
        services.ingest.delete(tenant, sub.document.id)


def test_delete_while_queued_cancels_the_job(services: Services, tenant: TenantId) -> None:
    sub = services.ingest.submit_text(tenant, "never indexed")
    services.ingest.delete(tenant, sub.document.id)
    drain(services)
    assert services.index.count(tenant) == 0 and services.queue.pending() == 0


def test_tenants_are_isolated_end_to_end(services: Services, tenant: TenantId) -> None:
    other = TenantId(f"{tenant}-b")
    services.ingest.submit_text(tenant, "Alpha tenant secret: the launch code is 1234.")
    theirs = services.ingest.submit_text(other, "Beta tenant secret: the launch code is 9876.")
    drain(services)
    for mode in ("dense", "sparse", "hybrid"):
        texts = texts_of(services, tenant, "launch code secret", mode=mode)
        assert texts and all("Alpha" in t for t in texts)
    with pytest.raises(NotFound):
        services.ingest.delete(tenant, theirs.document.id)
    hits = services.search.search(
        tenant, "launch code", filters=SearchFilters(document_ids=(theirs.document.id,))
    ).hits
    assert hits == []


def test_filters_by_document_source_and_metadata(services: Services, tenant: TenantId) -> None:
    a = services.ingest.submit_text(
        tenant, "Apples grow on trees.", source="fruit-a", metadata={"kind": "fruit", "year": 2020}
    )
    b = services.ingest.submit_text(
        tenant,
        "Apples are also a company.",
        source="corp-b",
        metadata={"kind": "corp", "year": 2021},
    )
    drain(services)
    assert {h.document_id for h in services.search.search(tenant, "apples").hits} == {
        a.document.id,
        b.document.id,
    }
    only = services.search.search(
        tenant, "apples", filters=SearchFilters.from_mapping({"metadata": {"kind": "corp"}})
    ).hits
    assert [h.document_id for h in only] == [b.document.id]
    only = services.search.search(
        tenant, "apples", filters=SearchFilters(sources=("fruit-a",))
    ).hits
    assert [h.document_id for h in only] == [a.document.id]
    only = services.search.search(
        tenant, "apples", filters=SearchFilters.from_mapping({"metadata": {"year": 2020}})
    ).hits
    assert [h.document_id for h in only] == [a.document.id]


def test_files_of_every_supported_kind(
    services: Services, tenant: TenantId, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    (tmp_path / "notes.md").write_text(
        "# Garden\n\n## Tomatoes\n\nTomatoes need full sun and steady water.\n"
    )
    (tmp_path / "page.html").write_text(
        "<html><head><title>Kites</title></head><body><nav>Home About Shop</nav><article><h1>Kites</h1>"
        "<p>A kite flies because wind deflects off its sail and produces lift against the line tension.</p>"
        "<p>Box kites were invented by Lawrence Hargrave in the eighteen nineties in Australia.</p></article>"
        "<footer>Cookie settings</footer></body></html>"
    )
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "d1", "title": "Moon", "text": "The Moon orbits Earth every 27 days."}\n'
        '{"_id": "d2", "title": "Mars", "text": "Mars has two small moons, Phobos and Deimos."}\n'
    )
    report = services.ingest.submit_paths(tenant, sorted(tmp_path.iterdir()))
    assert len(report.submissions) == 4 and report.failures == []
    drain(services)
    docs = {d.source.rsplit("/", 1)[-1]: d for d in services.store.list_documents(tenant)}
    assert all(d.status == DocumentStatus.INDEXED for d in docs.values()), [
        (d.source, d.error) for d in docs.values()
    ]
    assert (
        docs["corpus.jsonl#d2"].title == "Mars"
        and docs["corpus.jsonl#d2"].metadata["external_id"] == "d2"
    )
    assert docs["page.html"].title == "Kites"  # title read from the page, not guessed from the name
    [hit] = services.search.search(tenant, "tomatoes sun", mode="sparse", k=1).hits
    assert hit.heading_path[-1] == "Tomatoes"
    assert "Cookie" not in " ".join(
        texts_of(services, tenant, "cookie settings home shop", mode="sparse")
    )


BAD_INPUTS: dict[str, bytes] = {
    "empty.txt": b"",
    "blank.txt": b"   \n\t  \n",
    "junk.bin": os.urandom(4096),
    "junk.txt": bytes(range(256)) * 16,
    "fake.pdf": b"%PDF-1.7\n" + os.urandom(2000),
    "fake.docx": b"PK\x03\x04" + os.urandom(2000),
    "broken.jsonl": b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n',
    "unknown.xyz": b"\x00\x01\x02\x03" * 100,
}


def test_bad_inputs_fail_alone_with_readable_errors(
    services: Services, tenant: TenantId, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    for name, data in BAD_INPUTS.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "latin1.txt").write_bytes(
        "Café crème brûlée, à la française, déjà vu, une tarte aux pommes et un café noir pour le petit déjeuner.".encode(
            "latin-1"
        )
    )
    (tmp_path / "good.txt").write_text("Glaciers carve U-shaped valleys as they flow downhill.")
    report = services.ingest.submit_paths(tenant, sorted(tmp_path.iterdir()))
    drain(services)
    docs = {
        d.source.rsplit("/", 1)[-1]: d for d in services.store.list_documents(tenant, limit=100)
    }
    assert set(docs) == {*BAD_INPUTS, "latin1.txt", "good.txt"}
    for name in BAD_INPUTS:
        doc = docs[name]
        assert doc.status == DocumentStatus.FAILED, name
        assert doc.error and "Traceback" not in doc.error and len(doc.error) < 600, (
            name,
            doc.error,
        )
    assert "empty" in (docs["empty.txt"].error or "")
    assert "unsupported" in (docs["unknown.xyz"].error or "").lower()
    assert docs["good.txt"].status == DocumentStatus.INDEXED
    assert docs["latin1.txt"].status == DocumentStatus.INDEXED
    assert "crème" in texts_of(services, tenant, "brûlée", mode="sparse")[0]
    assert len(report.submissions) == len(docs)
    # Permanent errors are not retried: their jobs are dead letters right away.
    assert services.queue.counts()[JobState.RUNNING] == 0 and services.queue.pending() == 0


def test_huge_file_is_refused_without_reading_it(
    services: Services, tenant: TenantId, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:  # a sparse 200 MB file: costs no disk, would cost RAM if read
        fh.truncate(200 * 1024 * 1024)
    # tracemalloc's peak, not ru_maxrss: the test runner's own earlier peak would hide a
    # 200 MB read.
    tracemalloc.start()
    try:
        [sub] = services.ingest.submit_path(tenant, huge)
        grown_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert sub.outcome == "failed" and "200.0 MiB" in (sub.document.error or "")
    assert grown_mb < 50, f"peak RSS grew by {grown_mb:.0f} MB"
    assert services.queue.pending() == 0


def test_retry_failed_requeues_stored_documents(services: Services, tenant: TenantId) -> None:
    sub = services.ingest.submit_bytes(
        tenant, b"\x00\x01binary" * 50, source="x.txt", media_type="text/plain"
    )
    drain(services)
    assert services.store.get_document(tenant, sub.document.id).status == DocumentStatus.FAILED
    assert services.ingest.retry_failed(tenant) == 1
    assert services.store.get_document(tenant, sub.document.id).status == DocumentStatus.QUEUED
    drain(services)
    assert services.store.get_document(tenant, sub.document.id).status == DocumentStatus.FAILED


def test_retry_failed_requeues_every_page_of_failed_documents(
    services: Services, tenant: TenantId, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2 over 5 failed documents: paging by offset while moving them used to skip.
    monkeypatch.setattr("ragd.services.ingest.LIST_PAGE", 2)
    ids = [
        services.ingest.submit_bytes(
            tenant, b"\x00\x01binary%d" % i * 50, source=f"x{i}.txt", media_type="text/plain"
        ).document.id
        for i in range(5)
    ]
    drain(services)
    assert services.ingest.retry_failed(tenant) == 5
    assert {services.store.get_document(tenant, i).status for i in ids} == {DocumentStatus.QUEUED}


def test_records_are_submitted_in_batches_and_deduplicated(
    services: Services, tenant: TenantId, tmp_path: Path
) -> None:
    corpus = tmp_path / "c.jsonl"
    lines = [
        f'{{"_id": "r{i}", "title": "T{i}", "text": "record number {i}"}}' for i in range(1200)
    ]
    lines.append('{"_id": "dup", "title": "D", "text": "record number 7"}')  # same text as r7
    corpus.write_text("\n".join(lines) + "\n")
    subs = services.ingest.submit_path(tenant, corpus)
    assert len(subs) == 1201
    assert sum(s.outcome == "queued" for s in subs) == 1200 and subs[-1].outcome == "unchanged"
    assert subs[-1].document.id == subs[7].document.id
    assert services.queue.pending(tenant) == 1200
    again = services.ingest.submit_path(tenant, corpus)
    assert all(s.outcome == "unchanged" for s in again) and services.queue.pending(tenant) == 1200
    corpus.write_text(lines[0].replace("record number 0", "record zero, revised") + "\n")
    [changed] = services.ingest.submit_path(tenant, corpus)
    assert changed.outcome == "replaced" and changed.document.version == 2
