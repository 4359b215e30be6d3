"""The graph stage of ingestion: indexed documents → entities and relations in the graph.

A stage of its own, after a document is indexed, so it is resumable and can enrich an
index built before the graph existed (``ragd graph build``): its work list is the indexed
documents whose graph is missing or older than the document (``GraphStore.pending_documents``),
and each document is written in one transaction that first removes its previous
contribution, so running it twice changes nothing. The ingestion worker runs it between
embedding steps (``RAGD_GRAPH_ENABLED``); a failing LLM is retried later with backoff and
never holds up indexing.

Extraction results are cached by a hash of the chunk text and the extractor's id
(an LLM is never asked twice about the same text); the tokens an LLM spends are counted in
``ragd_llm_tokens_total`` and priced into ``genai_cost_total_dollars`` like answers.
After each document the new entities' names are embedded (for matching questions by
meaning, ``services.graph_search``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ragd.domain.graph import ChunkExtraction, Extraction
from ragd.domain.models import TenantId
from ragd.domain.pricing import PriceTable
from ragd.errors import RagdError
from ragd.observability import metrics
from ragd.observability.logging import get_logger
from ragd.ports import Embedder, Store
from ragd.ports.graph import EntityExtractor, GraphStore, GraphSync

log = logging.getLogger("ragd.graph")
costs = get_logger("ragd.cost")

VECTOR_BATCH = 128
BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 60.0


@dataclass
class GraphBuildResult:
    documents: int = 0
    chunks: int = 0
    cached_chunks: int = 0
    skipped: int = 0
    """Documents that changed while being extracted (built again later)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    entity_vectors: int = 0
    seconds: float = 0.0

    def add(self, other: GraphBuildResult) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def cache_key(extractor_id: str, text: str) -> str:
    return hashlib.sha256(f"{extractor_id}\0{text}".encode()).hexdigest()


class GraphBuildService:
    def __init__(
        self,
        store: Store,
        graph: GraphStore,
        extractor: EntityExtractor,
        embedder: Embedder | None,
        *,
        prices: PriceTable | None = None,
        cache: bool = True,
        documents_per_step: int = 8,
        idle_poll_seconds: float = 5.0,
        sync: GraphSync | None = None,
    ) -> None:
        self.store = store
        self.graph = graph
        self.extractor = extractor
        self.embedder = embedder
        self.prices = prices or PriceTable({})
        self.cache = cache
        """Cache extractions by chunk hash (worth it for an LLM, not for the rules)."""
        self.documents_per_step = documents_per_step
        self.idle_poll_seconds = idle_poll_seconds
        self._next_check = 0.0
        self._backoff = BACKOFF_MIN_S
        self.sync = sync
        """A Neo4j replica's outbox, applied after each step (deletes included)."""
        self._sync_at = 0.0
        self._sync_backoff = BACKOFF_MIN_S

    # ---------------------------------------------------------------- the worker's step

    def step(self, *, max_seconds: float = 1.0, nudge: bool = False) -> GraphBuildResult:
        """Build pending documents for up to ``max_seconds``. Looks for work at most every
        ``idle_poll_seconds`` unless ``nudge`` (the worker just indexed something); a
        failure is logged and retried with backoff, never raised."""
        result = GraphBuildResult()
        self._sync(max_seconds)
        now = time.monotonic()
        if now < self._next_check and not nudge:
            return result
        try:
            result = self.build(max_seconds=max_seconds, limit=self.documents_per_step)
        except RagdError as exc:
            self._next_check = time.monotonic() + self._backoff
            log.warning("graph build failed, retrying in %.0fs: %s", self._backoff, exc)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
            return result
        self._backoff = BACKOFF_MIN_S
        if result.documents + result.skipped == 0:
            self._next_check = time.monotonic() + self.idle_poll_seconds
        return result

    def _sync(self, max_seconds: float) -> None:
        if self.sync is None or time.monotonic() < self._sync_at:
            return
        try:
            self.sync.drain(max_seconds=max_seconds)
        except RagdError as exc:
            self._sync_at = time.monotonic() + self._sync_backoff
            log.warning("graph sync failed, retrying in %.0fs: %s", self._sync_backoff, exc)
            self._sync_backoff = min(self._sync_backoff * 2, BACKOFF_MAX_S)
            return
        self._sync_backoff = BACKOFF_MIN_S

    # ---------------------------------------------------------------- the build

    def build(
        self,
        *,
        max_seconds: float | None = None,
        limit: int | None = None,
        on_document: Callable[[GraphBuildResult], None] | None = None,
    ) -> GraphBuildResult:
        """Build every pending document (or ``limit`` of them, or for ``max_seconds``)."""
        total = GraphBuildResult()
        started = time.monotonic()
        tried: set[tuple[str, int]] = set()
        while limit is None or total.documents + total.skipped < limit:
            want = self.documents_per_step if limit is None else limit
            todo = [
                p for p in self.graph.pending_documents(want + len(tried)) if p[1:] not in tried
            ]
            if not todo:
                break
            for tenant, document_id, version in todo[:want]:
                tried.add((document_id, version))
                one = self.build_document(tenant, document_id, version)
                total.add(one)
                if on_document is not None:
                    on_document(one)
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    total.seconds = time.monotonic() - started
                    return total
        total.seconds = time.monotonic() - started
        return total

    def build_document(self, tenant: TenantId, document_id: str, version: int) -> GraphBuildResult:
        result = GraphBuildResult()
        chunks = self.store.list_chunks(tenant, document_id)
        prefix = f"{document_id}:{version}:"
        chunks = [c for c in chunks if c.id.startswith(prefix)]
        keys = [cache_key(self.extractor.id, c.text) for c in chunks]
        cached = self.graph.cached_extractions(tenant, keys) if self.cache else {}
        first: dict[str, int] = {}  # one extraction per distinct text
        for i, k in enumerate(keys):
            if k not in cached:
                first.setdefault(k, i)
        missing = list(first.values())
        extracted: dict[str, Extraction] = {}
        if missing:
            found, usage = self.extractor.extract([chunks[i].text for i in missing])
            extracted = {keys[i]: e for i, e in zip(missing, found, strict=True)}
            self._account(tenant, usage.prompt_tokens, usage.completion_tokens, result)
            if self.cache:
                self.graph.cache_extractions(tenant, extracted)
        items = [
            ChunkExtraction(c.id, cached.get(k) or extracted.get(k) or Extraction())
            for c, k in zip(chunks, keys, strict=True)
        ]
        with self.store.transaction() as tx:
            written = self.graph.write_document(tx, tenant, document_id, version, items)
        if not written:
            result.skipped = 1
            return result
        result.documents = 1
        result.chunks = len(chunks)
        result.cached_chunks = sum(1 for k in keys if k in cached)
        result.entity_vectors = self.embed_entities(tenant)
        return result

    def embed_entities(self, tenant: TenantId) -> int:
        """Embed the names of the tenant's entities that have no vector yet."""
        if self.embedder is None:
            return 0
        done = 0
        while todo := self.graph.entities_without_vector(tenant, limit=VECTOR_BATCH):
            vectors = self.embedder.embed_documents([name for _, name in todo])
            self.graph.set_entity_vectors(
                tenant, {eid: vectors[i] for i, (eid, _) in enumerate(todo)}
            )
            done += len(todo)
        return done

    def _account(
        self, tenant: TenantId, prompt: int, completion: int, result: GraphBuildResult
    ) -> None:
        if not prompt and not completion:
            return
        model = self.extractor.id.split(":", 1)[-1]
        metrics.LLM_TOKENS.labels(model, "prompt").inc(prompt)
        metrics.LLM_TOKENS.labels(model, "completion").inc(completion)
        cost = self.prices.cost(model, prompt, completion)
        metrics.COST_DOLLARS.labels(tenant).inc(cost)
        costs.info(
            "cost_event",
            tenant_id=tenant,
            purpose="graph",
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
        )
        result.prompt_tokens += prompt
        result.completion_tokens += completion
        result.cost_usd += cost
