"""Search: embed the query, ask the Index within the tenant, hydrate hits from the Store.

Traced as two spans, ``embed`` and ``search`` (index search and hydration).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from opentelemetry import trace

from ragd.domain.access import AccessFilter
from ragd.domain.filters import SearchFilters
from ragd.domain.graph import RelationUsed
from ragd.domain.graph_visible import ChunkVisibility
from ragd.domain.models import Hit, ScoredChunk, TenantId, Vector
from ragd.errors import InvalidRequest
from ragd.observability import metrics, tracing
from ragd.ports import Embedder, Index, Store
from ragd.ports.index import Fusion, IndexMode, IndexQuery, Mode
from ragd.services.graph_search import GraphRetriever, relations_for
from ragd.services.relevance_feedback import RelevanceFeedback, feedback_round

tracer = trace.get_tracer("ragd")

MAX_QUERY_CHARS = 4000
MODES: tuple[Mode, ...] = ("hybrid", "dense", "sparse", "graph", "hybrid+graph")
GRAPH_MODES = ("graph", "hybrid+graph")


@dataclass(frozen=True)
class FusionPolicy:
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    candidates: int = 100
    method: Fusion = "rrf"
    dense_share: float = 0.5
    adaptive: float = 0.0
    feedback: int = 0
    """Dense pseudo-relevance feedback from this many top documents (0: off)."""
    feedback_weight: float = 0.5
    feedback_dense_share: float = 0.6


@dataclass
class SearchResult:
    hits: list[Hit]
    mode: Mode
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage: embed, search, hydrate, total."""
    relations: list[RelationUsed] = field(default_factory=list)
    """Graph modes: the relations walked that the returned chunks state."""


class SearchService:
    def __init__(
        self,
        store: Store,
        index: Index,
        embedder: Embedder,
        *,
        fusion: FusionPolicy,
        default_mode: Mode = "hybrid",
        max_k: int = 100,
        graph: GraphRetriever | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        self.default_mode = default_mode
        self.max_k = max_k
        self.graph = graph
        """The knowledge graph's retrieval (``RAGD_GRAPH_ENABLED``); None without it."""

    def search(
        self,
        tenant: TenantId,
        query: str,
        *,
        mode: Mode | None = None,
        k: int = 10,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        mode = mode or self.default_mode
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode in GRAPH_MODES and self.graph is None:
            raise InvalidRequest(
                f"mode {mode} needs the knowledge graph: set RAGD_GRAPH_ENABLED=true"
            )
        if not isinstance(k, int) or k < 1 or k > self.max_k:
            raise InvalidRequest(f"k must be between 1 and {self.max_k} (MAX_RETRIEVAL_RESULTS)")
        query = (query or "").strip()
        if not query:
            raise InvalidRequest("query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"query is longer than {MAX_QUERY_CHARS} characters")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = self._embed_query(tenant, query) if mode not in ("sparse", "graph") else None
        t1 = time.perf_counter()
        with tracer.start_as_current_span(
            "search", attributes={tracing.TENANT: tenant, tracing.MODE: mode, tracing.TOP_K: k}
        ) as span:
            if mode in GRAPH_MODES:
                hits, relations = self._graph_search(tenant, query, mode, k, filters, vector)
                t2 = time.perf_counter()
                span.set_attribute(tracing.DOCS_RETRIEVED, len(hits))
                t3 = time.perf_counter()
                timings.update(
                    embed_ms=(t1 - t0) * 1e3,
                    search_ms=(t2 - t1) * 1e3,
                    hydrate_ms=0.0,
                    total_ms=(t3 - t0) * 1e3,
                )
                return SearchResult(hits=hits, mode=mode, timings=timings, relations=relations)
            index_mode = cast(IndexMode, mode)  # the graph modes returned above
            scored = self.index.search(
                tenant, self._index_query(query, vector, index_mode, k, filters or SearchFilters())
            )
            if index_mode == "hybrid" and self.fusion.feedback > 0:
                scored = self._feedback_round(tenant, query, vector, k, filters, scored)
            t2 = time.perf_counter()
            hits = self._hydrate(tenant, scored, mode, (filters or SearchFilters()).access)
            span.set_attribute(tracing.DOCS_RETRIEVED, len(hits))
        t3 = time.perf_counter()
        timings.update(
            embed_ms=(t1 - t0) * 1e3,
            search_ms=(t2 - t1) * 1e3,
            hydrate_ms=(t3 - t2) * 1e3,
            total_ms=(t3 - t0) * 1e3,
        )
        return SearchResult(hits=hits, mode=mode, timings=timings)

    def _index_query(
        self, query: str, vector: Vector | None, mode: IndexMode, k: int, filters: SearchFilters
    ) -> IndexQuery:
        return IndexQuery(
            text=query,
            vector=vector,
            mode=mode,
            k=k,
            filters=filters,
            rrf_k=self.fusion.rrf_k,
            dense_weight=self.fusion.dense_weight,
            sparse_weight=self.fusion.sparse_weight,
            candidates=max(self.fusion.candidates, k),
            fusion=self.fusion.method,
            dense_share=self.fusion.dense_share,
            adaptive=self.fusion.adaptive,
        )

    def _graph_search(
        self,
        tenant: TenantId,
        query: str,
        mode: Mode,
        k: int,
        filters: SearchFilters | None,
        vector: Vector | None,
    ) -> tuple[list[Hit], list[RelationUsed]]:
        """``graph``: the neighbourhood's chunks; ``hybrid+graph``: fused with the hybrid
        list. Graph chunks did not pass the index's filters, so the filters are applied to
        the hydrated hits (a few more are asked for when there are filters)."""
        assert self.graph is not None
        filters = filters or SearchFilters()
        want = k if filters.empty else min(self.max_k, k * 3)
        visible = self._visibility(tenant, filters.access)
        if mode == "graph":
            scored, hood = self.graph.scored(tenant, query, visible)
        else:
            hybrid = self.index.search(
                tenant, self._index_query(query, vector, "hybrid", want, filters)
            )
            scored, hood = self.graph.fuse(
                tenant, query, hybrid, rrf_k=self.fusion.rrf_k, limit=want, visible=visible
            )
        hydrated = self._hydrate(tenant, scored[:want], mode, filters.access)
        hits = [h for h in hydrated if filters_match(filters, h)]
        hits = hits[:k]
        return hits, relations_for(hood, [h.chunk_id for h in hits])

    def _visibility(self, tenant: TenantId, access: AccessFilter | None) -> ChunkVisibility | None:
        """What the graph walk may see for this caller: the chunks the Store reads under
        the caller's access (None: everything, a caller with every right)."""
        if access is None:
            return None

        def visible(chunk_ids: Sequence[str]) -> set[str]:
            return set(self.store.get_chunks(tenant, list(chunk_ids), access))

        return visible

    def _embed_query(self, tenant: TenantId, query: str) -> Vector:
        model = self.embedder.spec.model
        with tracer.start_as_current_span(
            "embed", attributes={tracing.TENANT: tenant, tracing.EMBEDDING_MODEL: model}
        ) as span:
            tokens = self.embedder.tokenizer.count(query)
            span.set_attribute(tracing.EMBEDDING_TOKENS, tokens)
            vector = self.embedder.embed_query(query)
        metrics.EMBEDDING_TOKENS.labels(model, "query").inc(tokens)
        return vector

    def _hydrate(
        self,
        tenant: TenantId,
        scored: list[ScoredChunk],
        mode: Mode,
        visible: AccessFilter | None = None,
    ) -> list[Hit]:
        """Index results as Hits with their chunk and document from the Store, read under
        the caller's access (the index has already filtered by it: this is the second
        line, the row-level-security policy on Postgres)."""
        found = self.store.get_chunks(tenant, [s.chunk_id for s in scored], visible)
        hits = []
        for s in scored:
            pair = found.get(s.chunk_id)
            if pair is None:
                continue  # deleted between search and hydrate: never show a stale chunk
            chunk, doc = pair
            hits.append(
                Hit(
                    chunk_id=chunk.id,
                    document_id=doc.id,
                    title=doc.title,
                    source=doc.source,
                    text=chunk.text,
                    score=s.score,
                    page=chunk.page,
                    heading_path=chunk.heading_path,
                    char_start=chunk.char_start,
                    char_end=chunk.char_end,
                    metadata=doc.metadata,
                    chunk_metadata=dict(chunk.metadata),
                    similarity=s.similarity
                    if s.similarity is not None or mode != "dense"
                    else s.score,  # a dense score is the cosine similarity
                )
            )
        return hits

    def _feedback_round(
        self,
        tenant: TenantId,
        query: str,
        vector: Vector | None,
        k: int,
        filters: SearchFilters | None,
        first: list[ScoredChunk],
    ) -> list[ScoredChunk]:
        """The hybrid results after one round of dense feedback (``RAGD_FUSION_FEEDBACK``,
        ``services.relevance_feedback``) from the first search's results ``first``."""
        return feedback_round(
            self.index,
            self.store,
            tenant,
            self._index_query(query, vector, "hybrid", k, filters or SearchFilters()),
            first,
            RelevanceFeedback(
                self.fusion.feedback, self.fusion.feedback_weight, self.fusion.feedback_dense_share
            ),
        )


def filters_match(filters: SearchFilters, hit: Hit) -> bool:
    """Whether a hydrated hit satisfies the filters (as the indexes apply them)."""
    if filters.document_ids and hit.document_id not in filters.document_ids:
        return False
    if filters.sources and hit.source not in filters.sources:
        return False
    return all(hit.metadata.get(key) == value for key, value in filters.metadata.items())
