"""An e-mail's attachments become documents exactly once, whatever happens to the worker
that indexes the message: they are written in the message's own fenced commit (real
SQLite Store and Queue, the real parsers in their sandbox)."""

from __future__ import annotations

import time

from ragd.domain.models import Document, DocumentStatus, TenantId
from ragd.services.container import Services
from ragd.services.scheduling import BatchResult
from ragd.worker import build_worker
from tests import office_files


def _drain(svc: Services) -> None:
    build_worker(svc).run(until_idle=True)


def _attachments(svc: Services, tenant: TenantId, parent: str) -> list[Document]:
    return [
        d
        for d in svc.store.list_documents(tenant, limit=500)
        if d.metadata.get("attachment_of") == parent
    ]


def test_a_worker_that_lost_its_lease_writes_no_attachments(
    services: Services, tenant: TenantId
) -> None:
    sub = services.ingest.submit_bytes(tenant, office_files.eml_message(), source="offer.eml")
    [late] = services.queue.claim("late-worker", limit=1, lease_seconds=0.05)
    prepared = services.indexing.prepare(late, "late-worker", BatchResult())
    assert prepared is not None and len(prepared.carried.attachments) == 2  # type: ignore[union-attr]
    time.sleep(0.1)  # its lease runs out; another worker takes the job over and finishes it

    _drain(services)
    taken_over = _attachments(services, tenant, sub.document.id)
    assert len(taken_over) == 2

    result = BatchResult()
    prepared.pending = []  # as if every chunk were embedded: commit now
    services.indexing.commit(prepared, "late-worker", result)

    assert result.skipped == 1 and result.indexed == 0
    after = _attachments(services, tenant, sub.document.id)
    # the same documents, not replaced (a replace bumps the version) nor queued again
    assert {(d.id, d.version, d.status) for d in after} == {
        (d.id, d.version, DocumentStatus.INDEXED) for d in taken_over
    }


def test_a_worker_that_died_before_its_commit_leaves_nothing_behind(
    services: Services, tenant: TenantId
) -> None:
    sub = services.ingest.submit_bytes(tenant, office_files.eml_message(), source="offer.eml")
    [job] = services.queue.claim("dead-worker", limit=1, lease_seconds=0.05)
    assert services.indexing.prepare(job, "dead-worker", BatchResult()) is not None
    assert _attachments(services, tenant, sub.document.id) == []  # nothing before a commit

    time.sleep(0.1)
    _drain(services)

    children = _attachments(services, tenant, sub.document.id)
    assert sorted(d.metadata["attachment_name"] for d in children) == [
        "lieferzeit.eml",
        "preise.csv",
    ]
    assert all(d.status == DocumentStatus.INDEXED for d in children)
    assert services.store.get_document(tenant, sub.document.id).status == DocumentStatus.INDEXED
    nested = next(d for d in children if d.metadata["attachment_name"] == "lieferzeit.eml")
    assert nested.title == "Lieferzeit"  # the attachment is parsed like an upload


def test_an_attachment_ragd_cannot_read_is_a_failed_document_with_its_reason(
    services: Services, tenant: TenantId
) -> None:
    message = office_files.eml_message(
        [("tool.exe", b"MZ\x90\x00" + bytes(range(256)) * 8, "application/octet-stream")]
    )
    sub = services.ingest.submit_bytes(tenant, message, source="tool.eml")

    _drain(services)

    [child] = _attachments(services, tenant, sub.document.id)
    assert child.status == DocumentStatus.FAILED
    assert "unsupported file type '.exe'" in (child.error or "")
    assert services.store.get_document(tenant, sub.document.id).status == DocumentStatus.INDEXED
