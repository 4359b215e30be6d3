"""The Index on Qdrant: dense + BM25 sparse vectors, written through an outbox in the Store.

Qdrant is not in the Store's transaction, so the write half of the port goes to the Store:
``upsert_document``/``delete_document`` validate the entries, encode them as points (dense
vector, sparse BM25 term weights, payload; ``points.py``) and append one outbox row
through the caller's transaction (``outbox.py``). The chunks and the row commit or roll
back together; a sync applies committed rows to Qdrant, idempotently and in order per
document (``sync.py``: the ingestion worker drains it, or ``ragd sync``).

Reads go to Qdrant, with the Store as the judge of what may be returned: a document with
an outbox row not applied yet is a *tombstone* (deleted or replaced in the Store, Qdrant
not there yet), and search leaves it out, so a committed delete is never undone by a lagging
sync. The outbox is asked about the documents of the candidates only (one indexed query),
and Qdrant is asked again without the tombstoned documents, so the top k stays exact. If
an apply lands between the Qdrant query and that check (the tenant's applied counter
moved), the search is repeated: the check must have seen the row as pending, or Qdrant as
already updated. (The search service also drops hits whose chunk the Store no longer has.)

Dense search is cosine over a per-tenant HNSW graph; sparse search is BM25: term-frequency
weights computed here from FTS5's tokens, IDF by Qdrant's ``IDF`` modifier over the
tenant's points (``IdfCorpusParams``), so one tenant's vocabulary never skews another's
ranking, as with the SQL indexes. Hybrid sends both Query API requests in one round trip
and fuses them with ragd's weighted reciprocal rank (``index.fusion``), so the ranking is
the SQLite and pgvector indexes' own; ``fusion="server"`` has Qdrant fuse instead, with a
``prefetch`` of both sides and its RRF (its weighted formula ``1/(rank/w + k - 1)`` ranks
a little differently from ragd's ``w/(k + rank)``, and the fused hits carry no per-side
ranks; the cosine similarity is recomputed from the returned dense vector).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from qdrant_client import models as qm

from ragd.adapters.index.checks import (
    checked_entry_vectors,
    checked_query,
    side_size,
)
from ragd.adapters.index.fusion import fuse_hybrid
from ragd.adapters.index.qdrant import ops
from ragd.adapters.index.qdrant.client import QdrantCollections, close_client
from ragd.adapters.index.qdrant.outbox import Outbox
from ragd.adapters.index.qdrant.points import (
    DENSE,
    SPARSE,
    TITLE_WEIGHT,
    PointData,
    build_points,
    encode,
    point_id,
    query_sparse,
)
from ragd.adapters.index.tokens import Fts5Tokenizer
from ragd.domain.models import EmbeddingSpec, IndexEntry, ScoredChunk, TenantId, Vector
from ragd.errors import ConfigError, IndexMismatch
from ragd.ports.index import IndexBuild, IndexQuery
from ragd.ports.store import Transaction

log = logging.getLogger(__name__)


TOMBSTONE_ROUNDS = 4
"""Searches repeated at most this often while applies race them; then hits of documents
still pending are dropped from the last answer."""

Fusion = Literal["client", "server"]

_Hit = tuple[str, float, str, Any]
"""One hit as read back: chunk id, score, document id, dense vector (server fusion only)."""


class QdrantIndex:
    """Index port over a Qdrant collection alias, with writes through the Store's outbox."""

    def __init__(
        self,
        collections: QdrantCollections,
        outbox: Outbox,
        spec: EmbeddingSpec,
        *,
        ef_search: int = 100,
        fusion: Fusion = "client",
        tokenizer: Fts5Tokenizer | None = None,
        title_weight: float = TITLE_WEIGHT,
    ) -> None:
        if spec.dimension < 1:
            raise ConfigError(f"embedding dimension must be positive, got {spec.dimension}")
        if fusion not in ("client", "server"):
            raise ConfigError(f"fusion must be client or server, got {fusion!r}")
        self.collections = collections
        self.outbox = outbox
        self._spec = spec
        self._ef_search = int(ef_search)
        self._fusion = fusion
        if not math.isfinite(title_weight) or title_weight < 0:
            raise ConfigError(f"title_weight must be a non-negative number, got {title_weight}")
        self._title_weight = float(title_weight)
        self._tokenizer = tokenizer or Fts5Tokenizer()

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    def close(self) -> None:
        """Release the Qdrant client (local storage is unlocked with its last user)."""
        close_client(self.collections.client)

    # ------------------------------------------------------------------ lifecycle

    def ensure_ready(self) -> None:
        """Create the first collection and its alias if there is none; refuse a live
        collection built for another embedding spec."""
        live = self.collections.live()
        if live is None:
            self.collections.swap(self.collections.create(self._spec))
            self.outbox.new_epoch()
            return
        stored = self.collections.spec(live)
        if stored != self._spec:
            built = f"{stored.model} ({stored.dimension}-d)" if stored else "an unknown model"
            raise IndexMismatch(
                f"Qdrant collection {live} was built with {built} but EMBEDDING_MODEL is "
                f"{self._spec.model} ({self._spec.dimension}-d); run `ragd reindex` to "
                "rebuild it from the Store"
            )

    def stored_spec(self) -> EmbeddingSpec | None:
        live = self.collections.live()
        return self.collections.spec(live) if live else None

    def rebuild(self) -> None:
        """An empty collection for ``spec`` becomes the live one (the old one is dropped).
        Searches see an empty index until it is refilled: ``start_build`` is the
        zero-downtime way, which ``ragd reindex`` takes."""
        previous = self.collections.swap(self.collections.create(self._spec))
        self.outbox.new_epoch()
        if previous is not None:
            self.collections.drop(previous)

    def start_build(self) -> IndexBuild:
        from ragd.adapters.index.qdrant.reindex import QdrantBuild

        return QdrantBuild(self, owner=f"reindex:{uuid.uuid4().hex[:12]}")

    # ------------------------------------------------------------------ writes

    def upsert_document(
        self, tx: Transaction, tenant: TenantId, document_id: str, entries: Sequence[IndexEntry]
    ) -> None:
        """An outbox row with the document's points, in the caller's transaction."""
        points = self.points(document_id, entries)
        self.outbox.append(tx, tenant, document_id, "upsert", encode(self._spec, points))

    def delete_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        self.outbox.append(tx, tenant, document_id, "delete", None)

    def points(self, document_id: str, entries: Sequence[IndexEntry]) -> list[PointData]:
        """Validated points of one document's entries (nothing is written)."""
        vectors = np.zeros((len(entries), self._spec.dimension), dtype=np.float32)
        for i, vec in enumerate(checked_entry_vectors(document_id, entries, self._spec)):
            vectors[i] = _unit(vec)
        return build_points(entries, vectors, self._tokenizer, self._title_weight)

    # ------------------------------------------------------------------ reads

    def count(self, tenant: TenantId) -> int:
        return self.collections.count(ops.tenant_filter(tenant))

    def version(self, tenant: TenantId) -> str:
        """Moves with every committed write of the tenant, every apply, and every swap of
        the live collection (all recorded in the Store, so one read, no Qdrant call)."""
        return self.outbox.stamp(tenant)

    def search(self, tenant: TenantId, query: IndexQuery) -> list[ScoredChunk]:
        checked = checked_query(query, self._spec)
        vector = None if checked is None else _unit(checked)
        terms = query_sparse(self._tokenizer, query.text or "") if query.mode != "dense" else None
        if query.mode == "sparse" and terms is None:
            return []
        n = side_size(query)
        ops.search_filter(tenant, query.filters)  # validates the filters before any call
        fused = (
            query.mode == "hybrid"
            and self._fusion == "server"
            and query.fusion == "rrf"
            and terms is not None
        )
        excluded: set[str] = set()
        applied = self.outbox.applied(tenant)
        for _ in range(TOMBSTONE_ROUNDS):
            lists = self._ask(tenant, query, vector, terms, n, excluded, fused=fused)
            documents = {doc for hits in lists for _, _, doc, _ in hits}
            stale, now_applied = self.outbox.pending_documents(tenant, documents)
            if not stale and now_applied == applied:
                break
            excluded |= stale
            applied = now_applied
        else:
            stale, _ = self.outbox.pending_documents(tenant, documents)
            lists = [[h for h in hits if h[2] not in stale] for hits in lists]
        return self._results(query, lists, vector, fused=fused)

    # ------------------------------------------------------------------ search internals

    def _ask(
        self,
        tenant: TenantId,
        query: IndexQuery,
        vector: np.ndarray | None,
        terms: tuple[list[int], list[float]] | None,
        n: int,
        excluded: set[str],
        *,
        fused: bool,
    ) -> list[list[_Hit]]:
        """One round trip: the hit lists of the mode (dense and/or sparse, or fused)."""
        flt = ops.search_filter(tenant, query.filters, excluded)
        dense_q = sparse_q = None
        if vector is not None:
            dense_q = {
                "query": [float(x) for x in vector],
                "using": DENSE,
                "params": None
                if self.collections.local  # exact search always; it warns about params
                else qm.SearchParams(
                    hnsw_ef=max(self._ef_search, n),
                    quantization=qm.QuantizationSearchParams(rescore=True, oversampling=2.0)
                    if self.collections.layout.quantization != "none"
                    else None,
                ),
            }
        if terms is not None:
            sparse_q = {
                "query": qm.SparseVector(indices=terms[0], values=terms[1]),
                "using": SPARSE,
                # IDF over the tenant's points only, like the SQL indexes' statistics.
                "params": qm.SearchParams(idf=qm.IdfCorpusParams(corpus=ops.tenant_filter(tenant))),
            }
        if fused and dense_q and sparse_q:
            request = qm.QueryRequest(
                prefetch=[
                    qm.Prefetch(**dense_q, filter=flt, limit=n),
                    qm.Prefetch(**sparse_q, filter=flt, limit=n),
                ],
                query=qm.RrfQuery(
                    rrf=qm.Rrf(
                        k=int(query.rrf_k) + 1,  # Qdrant's ranks start at 0 in the formula
                        weights=[float(query.dense_weight), float(query.sparse_weight)],
                    )
                ),
                limit=query.k,
                with_payload=ops.PAYLOAD_FIELDS,
                with_vector=[DENSE],
            )
            return [_hits(p) for p in self.collections.query([request])]
        requests = [
            qm.QueryRequest(**q, filter=flt, limit=n, with_payload=ops.PAYLOAD_FIELDS)
            for q in (dense_q, sparse_q)
            if q is not None
        ]
        return [_hits(p) for p in self.collections.query(requests)]

    def _results(
        self,
        query: IndexQuery,
        lists: list[list[_Hit]],
        vector: np.ndarray | None,
        *,
        fused: bool,
    ) -> list[ScoredChunk]:
        if query.mode == "dense":
            return _ranked(lists[0], "dense")[: query.k]
        if query.mode == "sparse":
            return _ranked(lists[-1], "sparse")[: query.k]
        if fused and vector is not None:
            unit = vector.astype(np.float64) / np.linalg.norm(vector)
            return [
                ScoredChunk(cid, score, similarity=_cosine(unit, dense))
                for cid, score, _, dense in lists[0][: query.k]
            ]
        dense = _ranked(lists[0], "dense")
        sparse = _ranked(lists[1], "sparse") if len(lists) > 1 else []
        return fuse_hybrid(query, dense, sparse)

    # ------------------------------------------------------------------ inventory

    def chunk_ids(self) -> dict[TenantId, dict[str, str]]:
        """Every point: tenant → chunk id → document id (``ragd reconcile``)."""
        out: dict[TenantId, dict[str, str]] = {}
        for record in self.collections.scroll(None, ["tenant_id", "chunk_id", "document_id"]):
            p = record.payload or {}
            out.setdefault(TenantId(p.get("tenant_id", "")), {})[str(p.get("chunk_id"))] = str(
                p.get("document_id")
            )
        return out

    def document_chunk_ids(self, tenant: TenantId, document_id: str) -> set[str]:
        flt = ops.document_filter(tenant, [document_id])
        return {
            str((r.payload or {}).get("chunk_id"))
            for r in self.collections.scroll(flt, ["chunk_id"])
        }

    def remove_chunks(self, tenant: TenantId, chunk_ids: Sequence[str]) -> int:
        if chunk_ids:
            self.collections.write([ops.delete_points(tenant, chunk_ids)])
        return len(chunk_ids)

    def stored_vectors(self, tenant: TenantId, chunk_ids: Sequence[str]) -> dict[str, Vector]:
        """The live collection's vectors of these chunks (as stored: L2-normalised)."""
        by_point = {point_id(tenant, c): c for c in chunk_ids}
        found = self.collections.vectors(list(by_point))
        return {by_point[pid]: np.asarray(v, dtype=np.float32) for pid, v in found.items()}


def _hits(points: Sequence[qm.ScoredPoint]) -> list[_Hit]:
    out: list[_Hit] = []
    for p in points:
        payload = p.payload or {}
        dense = p.vector.get(DENSE) if isinstance(p.vector, dict) else None
        out.append(
            (str(payload.get("chunk_id")), float(p.score), str(payload.get("document_id")), dense)
        )
    return out


def _ranked(hits: Sequence[_Hit], side: str) -> list[ScoredChunk]:
    """Best first, ties broken by chunk id (as every ragd index orders them), with ranks."""
    ordered = sorted(hits, key=lambda h: (-h[1], h[0]))
    if side == "dense":
        return [ScoredChunk(h[0], h[1], dense_rank=i) for i, h in enumerate(ordered, 1)]
    return [ScoredChunk(h[0], h[1], sparse_rank=i) for i, h in enumerate(ordered, 1)]


def _unit(vector: np.ndarray) -> np.ndarray:
    """L2-normalised in float64, stored as float32: the dot product is the cosine."""
    v = vector.astype(np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _cosine(unit_query: np.ndarray, stored: Any) -> float | None:
    if stored is None:
        return None
    v = np.asarray(stored, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return float(v @ unit_query / norm) if norm and math.isfinite(norm) else None
