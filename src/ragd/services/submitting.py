"""The document use case of the HTTP API: quota, submit, delete or cancel, then forget cached
answers.

``IngestService`` does the work (dedupe, store, queue); this adds what a tenant-facing
caller owes around it: the tenant's document and storage quota, and dropping the tenant's
cached answers once its documents changed (cache keys also hold the index version, so
this frees the entries at once rather than leaving them to expire).
"""

from __future__ import annotations

from typing import Any

from ragd.domain.access import DEFAULT_COLLECTION
from ragd.domain.models import Document, TenantId
from ragd.ports.cache import Cache
from ragd.services.ingest import IngestService, Submission
from ragd.services.quotas import QuotaService


class SubmitService:
    def __init__(self, ingest: IngestService, quotas: QuotaService, cache: Cache) -> None:
        self.ingest = ingest
        self.quotas = quotas
        self.cache = cache

    def check_quota(self, tenant: TenantId) -> None:
        """Raise ``QuotaExceeded`` when the tenant may not add a document.

        Call it before reading the upload: a tenant at its limit is refused without its
        body being read (``submit_*`` do not check again)."""
        self.quotas.check_documents(tenant)

    def submit_text(
        self,
        tenant: TenantId,
        text: str,
        *,
        title: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        collection_id: str = DEFAULT_COLLECTION,
        readers: tuple[str, ...] = (),
    ) -> Submission:
        """Queue a text document; see ``IngestService.submit_text``."""
        submission = self.ingest.submit_text(
            tenant,
            text,
            title=title,
            source=source,
            metadata=metadata,
            collection_id=collection_id,
            readers=readers,
        )
        return self._submitted(tenant, submission)

    def submit_bytes(
        self,
        tenant: TenantId,
        data: bytes,
        *,
        source: str,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        exact_source: bool = False,
        collection_id: str = DEFAULT_COLLECTION,
        readers: tuple[str, ...] = (),
    ) -> Submission:
        """Queue an uploaded file (or a synced source's item, ``exact_source``); see
        ``IngestService.submit_bytes``."""
        submission = self.ingest.submit_bytes(
            tenant,
            data,
            source=source,
            title=title,
            metadata=metadata,
            exact_source=exact_source,
            collection_id=collection_id,
            readers=readers,
        )
        return self._submitted(tenant, submission)

    def delete(self, tenant: TenantId, document_id: str) -> None:
        """Delete a document with its chunks and index entries. Raises ``NotFound``."""
        self.ingest.delete(tenant, document_id)
        self.cache.invalidate_tenant(tenant)

    def cancel(self, tenant: TenantId, document_id: str, *, by: str | None = None) -> Document:
        """Stop indexing a document; see ``IngestService.cancel``."""
        doc = self.ingest.cancel(tenant, document_id, by=by)
        self.cache.invalidate_tenant(tenant)  # a replaced document's old chunks went with it
        return doc

    def _submitted(self, tenant: TenantId, submission: Submission) -> Submission:
        if submission.outcome != "failed":
            self.cache.invalidate_tenant(tenant)
        return submission
