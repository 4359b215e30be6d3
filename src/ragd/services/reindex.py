"""Rebuild the Index from the Store: the Store is the truth, the Index is derived.

Used after changing the embedding model (the Index refuses a model it was not built
with) or to repair an index. Chunks are not re-cut; their stored text is re-embedded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ragd.domain.models import Chunk, Document, IndexEntry
from ragd.ports import Embedder, Index, Store
from ragd.services.indexing import embedding_text


@dataclass
class ReindexReport:
    documents: int = 0
    chunks: int = 0


class ReindexService:
    def __init__(
        self, store: Store, index: Index, embedder: Embedder, *, batch_size: int = 64
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.batch_size = batch_size

    def run(self, on_progress: Callable[[int], None] | None = None) -> ReindexReport:
        self.index.rebuild()
        report = ReindexReport()
        pending: dict[str, tuple[Document, list[Chunk]]] = {}
        for batch in self.store.iter_indexed_chunks(batch_size=self.batch_size):
            for chunk, doc in batch:
                pending.setdefault(doc.id, (doc, []))[1].append(chunk)
            # Flush every document except the last one seen, which may continue in the next batch.
            last_doc = batch[-1][1].id
            ready = {k: v for k, v in pending.items() if k != last_doc}
            self._write(ready, report, on_progress)
            pending = {k: v for k, v in pending.items() if k == last_doc}
        self._write(pending, report, on_progress)
        return report

    def _write(
        self,
        docs: dict[str, tuple[Document, list[Chunk]]],
        report: ReindexReport,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        if not docs:
            return
        texts = [embedding_text(doc, c) for doc, chunks in docs.values() for c in chunks]
        vectors = self.embedder.embed_documents(texts)
        i = 0
        with self.store.transaction() as tx:
            for doc, chunks in docs.values():
                entries = []
                for c in chunks:
                    entries.append(
                        IndexEntry(
                            c.id, doc.id, doc.source, doc.title, c.text, vectors[i], doc.metadata
                        )
                    )
                    i += 1
                self.index.upsert_document(tx, doc.tenant_id, doc.id, entries)
                report.documents += 1
                report.chunks += len(chunks)
        if on_progress:
            on_progress(len(texts))
