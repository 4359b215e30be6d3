"""Rebuild the Index from the Store: the Store is the truth, the Index is derived.

Used after changing the embedding model (the Index refuses a model it was not built
with), to repair an index, or to fill a new backend (``ragd reindex --target qdrant``).
Chunks are not re-cut; their stored text is re-embedded, unless ``vectors`` (the index
being migrated from, built with the same model) still holds a chunk's vector: copying it
is exact and costs nothing, where embedding costs ~0.1 s a chunk on a CPU.

An index that supports it (``StagedRebuild``: Qdrant) is rebuilt beside the live one and
swapped in atomically, with the writes made meanwhile replayed: searches never see an
empty or partial index. The others are emptied and refilled in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ragd.domain.models import Chunk, Document, IndexEntry, TenantId
from ragd.errors import NotFound
from ragd.ports import Embedder, Index, Store
from ragd.ports.index import StagedRebuild, VectorSource
from ragd.services.indexing import embedding_text


@dataclass
class ReindexReport:
    documents: int = 0
    chunks: int = 0
    copied_vectors: int = 0
    """Chunks whose vector came from ``vectors`` rather than the embedder."""
    staged: bool = False
    """Built beside the live index and swapped in (no downtime)."""


class ReindexService:
    def __init__(
        self,
        store: Store,
        index: Index,
        embedder: Embedder,
        *,
        batch_size: int = 64,
        vectors: VectorSource | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.batch_size = batch_size
        self.vectors = vectors

    def run(self, on_progress: Callable[[int], None] | None = None) -> ReindexReport:
        report = ReindexReport()
        if isinstance(self.index, StagedRebuild):
            build = self.index.start_build()
            try:
                for batch in self._batches(report, on_progress):
                    for doc, entries in batch:
                        build.add(doc.tenant_id, doc.id, entries)
                build.publish(self._current_entries)
            except BaseException:
                build.abandon()
                raise
            report.staged = True
            return report
        self.index.rebuild()
        for batch in self._batches(report, on_progress):
            with self.store.transaction() as tx:
                for doc, entries in batch:
                    self.index.upsert_document(tx, doc.tenant_id, doc.id, entries)
        return report

    def _batches(
        self, report: ReindexReport, on_progress: Callable[[int], None] | None
    ) -> Iterator[list[tuple[Document, list[IndexEntry]]]]:
        """Every indexed document of the Store with its entries, a batch at a time."""
        pending: dict[str, tuple[Document, list[Chunk]]] = {}
        for batch in self.store.iter_indexed_chunks(batch_size=self.batch_size):
            for chunk, doc in batch:
                pending.setdefault(doc.id, (doc, []))[1].append(chunk)
            # Every document but the last one seen is complete (it may go on next batch).
            last_doc = batch[-1][1].id
            ready = [v for k, v in pending.items() if k != last_doc]
            pending = {k: v for k, v in pending.items() if k == last_doc}
            yield self._entries(ready, report, on_progress)
        yield self._entries(list(pending.values()), report, on_progress)

    def _entries(
        self,
        docs: list[tuple[Document, list[Chunk]]],
        report: ReindexReport,
        on_progress: Callable[[int], None] | None,
    ) -> list[tuple[Document, list[IndexEntry]]]:
        if not docs:
            return []
        vectors = self._vectors(docs, report)
        out: list[tuple[Document, list[IndexEntry]]] = []
        i = 0
        for doc, chunks in docs:
            entries = [
                IndexEntry(
                    c.id,
                    doc.id,
                    doc.source,
                    doc.title,
                    c.text,
                    vec,
                    doc.metadata,
                    doc.collection_id,
                    doc.readers,
                )
                for c, vec in zip(chunks, vectors[i : i + len(chunks)], strict=True)
            ]
            i += len(chunks)
            report.documents += 1
            report.chunks += len(chunks)
            out.append((doc, entries))
        if on_progress:
            on_progress(i)
        return out

    def _vectors(
        self, docs: list[tuple[Document, list[Chunk]]], report: ReindexReport
    ) -> np.ndarray:
        """One vector per chunk, in order: copied where ``vectors`` has it, else embedded."""
        flat = [(doc, c) for doc, chunks in docs for c in chunks]
        out = np.zeros((len(flat), self.embedder.spec.dimension), dtype=np.float32)
        missing = list(range(len(flat)))
        if self.vectors is not None:
            by_tenant: dict[TenantId, list[str]] = {}
            for doc, c in flat:
                by_tenant.setdefault(doc.tenant_id, []).append(c.id)
            found: dict[tuple[TenantId, str], np.ndarray] = {}
            for tenant, ids in by_tenant.items():
                for cid, vec in self.vectors.stored_vectors(tenant, ids).items():
                    found[(tenant, cid)] = vec
            missing = []
            for i, (doc, c) in enumerate(flat):
                stored = found.get((doc.tenant_id, c.id))
                if stored is not None and stored.shape == (out.shape[1],):
                    out[i] = stored
                    report.copied_vectors += 1
                else:
                    missing.append(i)
        if missing:
            texts = [embedding_text(flat[i][0], flat[i][1]) for i in missing]
            out[missing] = self.embedder.embed_documents(texts)
        return out

    def _current_entries(self, tenant: TenantId, document_id: str) -> list[IndexEntry] | None:
        """A document's entries as the Store has them now (None: deleted), embedded with
        the configured model: for writes the staged build cannot replay as they are."""
        try:
            doc = self.store.get_document(tenant, document_id)
        except NotFound:
            return None
        chunks = self.store.list_chunks(tenant, document_id)
        if not chunks:
            return []
        report = ReindexReport()
        vectors = self._vectors([(doc, chunks)], report)
        return [
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
