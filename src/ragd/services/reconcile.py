"""Compare the Store with an external index and repair the difference (``ragd reconcile``).

The outbox keeps Qdrant in step with the Store, but anything outside ragd (a restored
snapshot, a hand-deleted collection, a sync that ran on after its lease was taken) can
leave the two apart. Reconcile lists every chunk on both sides, per tenant:

- **missing**: a chunk the Store has and the index lacks. Its document is re-embedded from
  the Store's text and written through the outbox, like any write, so it is applied in
  order with the document's other writes.
- **orphan**: an index entry with no chunk in the Store. It is deleted from the index
  directly (the Store has nothing to write for it).

Documents with outbox rows still pending are left to the sync (they are hidden from search
until it applies them), and every difference is read again for its document alone before
it is repaired, so a write that lands while reconcile runs is not mistaken for drift. The
counts go to ``ragd_index_drift_chunks{kind}`` and to the Store, where ``/metrics`` of any
API process reads the last run's. Both sides' chunk ids are held in memory (~100 bytes a
chunk); run it per shard of tenants beyond ~10^7 chunks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ragd.domain.models import DocumentStatus, IndexEntry, TenantId, utcnow
from ragd.errors import InvalidRequest, NotFound
from ragd.observability import metrics
from ragd.ports import Embedder, Index, Store
from ragd.ports.index import IndexInventory
from ragd.ports.index_sync import DriftCounts, IndexSync
from ragd.services.indexing import embedding_text

log = logging.getLogger("ragd.reconcile")

_OTHER_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PARSING,
    DocumentStatus.EMBEDDING,
    DocumentStatus.FAILED,
)
"""A document being re-ingested, or whose re-ingestion failed, keeps its previous chunks
(and their index entries) until a new version commits."""


@dataclass
class DriftReport:
    missing: int = 0
    orphans: int = 0
    repaired_documents: int = 0
    removed_orphans: int = 0
    tenants: int = 0
    store_chunks: int = 0
    index_chunks: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return self.missing + self.orphans

    def as_dict(self) -> dict[str, object]:
        return {
            "missing": self.missing,
            "orphans": self.orphans,
            "repaired_documents": self.repaired_documents,
            "removed_orphans": self.removed_orphans,
            "tenants": self.tenants,
            "store_chunks": self.store_chunks,
            "index_chunks": self.index_chunks,
            "examples": self.examples,
        }


class ReconcileService:
    def __init__(
        self, store: Store, index: Index, embedder: Embedder, sync: IndexSync | None
    ) -> None:
        if not isinstance(index, IndexInventory):
            raise InvalidRequest(
                "this index commits in the Store's own transaction and cannot drift from it; "
                "reconcile applies to VECTOR_STORE_TYPE=qdrant"
            )
        self.store = store
        self.index = index
        self.inventory: IndexInventory = index
        self.embedder = embedder
        self.sync = sync

    def run(self, *, repair: bool = True) -> DriftReport:
        if self.sync is not None:
            self.sync.drain()  # pending rows are the sync's business, not drift
        report = DriftReport()
        stored = self._store_chunks()
        indexed = self.inventory.chunk_ids()
        tenants = sorted(set(stored) | set(indexed))
        report.tenants = len(tenants)
        for tenant in tenants:
            have = stored.get(tenant, {})
            held = indexed.get(tenant, {})
            report.store_chunks += len(have)
            report.index_chunks += len(held)
            missing_docs = {have[c] for c in have.keys() - held.keys()}
            orphan_docs = {held[c] for c in held.keys() - have.keys()}
            for doc in sorted(missing_docs | orphan_docs):
                self._settle(tenant, doc, report, repair=repair)
        self._publish(report, repaired=repair)
        if repair and self.sync is not None and report.repaired_documents:
            self.sync.drain()
        return report

    def _settle(
        self, tenant: TenantId, document_id: str, report: DriftReport, *, repair: bool
    ) -> None:
        """Re-read one document on both sides; count and (with ``repair``) fix what still
        differs."""
        in_store = {c.id for c in self.store.list_chunks(tenant, document_id)}
        in_index = self.inventory.document_chunk_ids(tenant, document_id)
        missing, orphans = in_store - in_index, in_index - in_store
        if not missing and not orphans:
            return
        if self.sync is not None and self.sync.is_pending(tenant, document_id):
            return
        report.missing += len(missing)
        report.orphans += len(orphans)
        if len(report.examples) < 10:
            report.examples.append(
                f"{tenant}/{document_id}: {len(missing)} missing, {len(orphans)} orphan(s)"
            )
        if not repair:
            return
        if orphans:
            report.removed_orphans += self.inventory.remove_chunks(tenant, sorted(orphans))
        if missing:
            self._rewrite(tenant, document_id)
            report.repaired_documents += 1

    def _rewrite(self, tenant: TenantId, document_id: str) -> None:
        """The document's chunks, embedded again, as an outbox write (applied in order)."""
        try:
            doc = self.store.get_document(tenant, document_id)
        except NotFound:
            return
        chunks = self.store.list_chunks(tenant, document_id)
        vectors = self.embedder.embed_documents([embedding_text(doc, c) for c in chunks])
        entries = [
            IndexEntry(
                c.id,
                doc.id,
                doc.source,
                doc.title,
                c.text,
                vectors[i],
                doc.metadata,
                doc.collection_id,
                doc.readers,
            )
            for i, c in enumerate(chunks)
        ]
        with self.store.transaction() as tx:
            self.index.upsert_document(tx, tenant, document_id, entries)
        log.info("reconcile: re-indexed %d chunk(s) of %s/%s", len(entries), tenant, document_id)

    def _store_chunks(self) -> dict[TenantId, dict[str, str]]:
        """Every chunk of the Store: tenant → chunk id → document id."""
        out: dict[TenantId, dict[str, str]] = {}
        for batch in self.store.iter_indexed_chunks(batch_size=1000):
            for chunk, doc in batch:
                out.setdefault(doc.tenant_id, {})[chunk.id] = doc.id
        for tenant in self.store.tenants():
            for status in _OTHER_STATUSES:
                offset = 0
                while page := self.store.list_documents(
                    tenant, status=status, limit=500, offset=offset
                ):
                    for doc in page:
                        for chunk in self.store.list_chunks(tenant, doc.id):
                            out.setdefault(tenant, {})[chunk.id] = doc.id
                    offset += len(page)
        return out

    def _publish(self, report: DriftReport, *, repaired: bool) -> None:
        metrics.INDEX_DRIFT.labels("missing").set(report.missing)
        metrics.INDEX_DRIFT.labels("orphan").set(report.orphans)
        if self.sync is not None:
            self.sync.record_drift(
                DriftCounts(report.missing, report.orphans, utcnow(), repaired=repaired)
            )
