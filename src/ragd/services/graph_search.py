"""Graph-augmented retrieval: the ``graph`` mode and the ``hybrid+graph`` fusion.

The question's names (``question_names``: the extractor's entities, and its content words
and word pairs, since questions are often lower case) are matched to the tenant's graph
entities by normalised name and alias, and, with an embedder, by the cosine of their
MiniLM embeddings with the entities' name vectors (at least ``name_similarity``). Their
neighbourhood, 1 or 2 hops and bounded (``GraphStore.neighbourhood``), selects chunks:
those that mention a matched entity or state a relation walked from one. ``hybrid+graph``
fuses that list with the hybrid list by reciprocal rank, the graph side weighted
``weight``; the relations walked come back with the chunks that state them, so an answer
can cite the passage behind each relation it uses.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragd.domain.entities import extract_entities, question_names
from ragd.domain.graph import EntityMatch, Neighbourhood, RelationUsed, normalise_name
from ragd.domain.models import ScoredChunk, TenantId, Vector
from ragd.ports import Embedder
from ragd.ports.graph import GraphStore

VERSION_CHECK_SECONDS = 5.0
TENANTS_CACHED = 16
MAX_EMBEDDED_PHRASES = 8


@dataclass(frozen=True)
class GraphPolicy:
    hops: int = 2
    max_edges: int = 30
    """Relations walked per hop, best-supported first."""
    max_chunks: int = 50
    max_seeds: int = 8
    name_similarity: float = 0.8
    max_match_entities: int = 20_000
    """Entity name vectors held per tenant for matching by meaning (384 floats each)."""
    weight: float = 1.0
    """Weight of the graph list in the ``hybrid+graph`` reciprocal-rank fusion."""


@dataclass
class _Vectors:
    version: str
    checked: float
    entities: list[EntityMatch]
    matrix: Vector


class GraphRetriever:
    def __init__(
        self, graph: GraphStore, embedder: Embedder | None, policy: GraphPolicy | None = None
    ) -> None:
        self.graph = graph
        self.embedder = embedder
        self.policy = policy or GraphPolicy()
        self._vectors: OrderedDict[TenantId, _Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def seeds(self, tenant: TenantId, question: str) -> list[EntityMatch]:
        """The graph entities the question names, best first."""
        names = question_names(question)
        keys = [k for k in (normalise_name(n) for n in names) if k]
        found = {m.entity_id: m for m in self.graph.match_entities(tenant, keys, limit=64)}
        if self.embedder is not None:
            phrases = [e.name for e in extract_entities(question).entities] or names
            unmatched = [
                p for p in phrases if normalise_name(p) not in {m.key for m in found.values()}
            ]
            for m in self._by_meaning(tenant, unmatched[:MAX_EMBEDDED_PHRASES]):
                if m.entity_id not in found:
                    found[m.entity_id] = m
        ordered = sorted(found.values(), key=lambda m: (-m.score, len(m.key)))
        return ordered[: self.policy.max_seeds]

    def neighbourhood(self, tenant: TenantId, question: str) -> Neighbourhood:
        seeds = self.seeds(tenant, question)
        if not seeds:
            return Neighbourhood()
        p = self.policy
        return self.graph.neighbourhood(
            tenant, seeds, hops=p.hops, max_edges=p.max_edges, max_chunks=p.max_chunks
        )

    def scored(self, tenant: TenantId, question: str) -> tuple[list[ScoredChunk], Neighbourhood]:
        """The ``graph`` mode: the neighbourhood's chunks as a ranked list."""
        hood = self.neighbourhood(tenant, question)
        return [ScoredChunk(c.chunk_id, c.score) for c in hood.chunks], hood

    def fuse(
        self,
        tenant: TenantId,
        question: str,
        hybrid: Sequence[ScoredChunk],
        *,
        rrf_k: int,
        limit: int,
    ) -> tuple[list[ScoredChunk], Neighbourhood]:
        """``hybrid+graph``: the hybrid list and the graph's, by weighted reciprocal rank."""
        hood = self.neighbourhood(tenant, question)
        return fuse_graph(hybrid, hood, rrf_k=rrf_k, weight=self.policy.weight, limit=limit), hood

    # ------------------------------------------------------------------ by meaning

    def _by_meaning(self, tenant: TenantId, phrases: Sequence[str]) -> list[EntityMatch]:
        if not phrases or self.embedder is None:
            return []
        entities, matrix = self._tenant_vectors(tenant)
        if not entities:
            return []
        queries = self.embedder.embed_documents(list(phrases))
        sims = queries @ matrix.T  # unit vectors: cosine
        out: list[EntityMatch] = []
        for row in sims:
            best = int(np.argmax(row))
            if float(row[best]) >= self.policy.name_similarity:
                e = entities[best]
                out.append(EntityMatch(e.entity_id, e.key, e.name, float(row[best])))
        return out

    def _tenant_vectors(self, tenant: TenantId) -> tuple[list[EntityMatch], Vector]:
        """The tenant's entity name vectors, re-read when its graph changed (checked at
        most every ``VERSION_CHECK_SECONDS``); the last ``TENANTS_CACHED`` tenants kept."""
        now = time.monotonic()
        with self._lock:
            held = self._vectors.get(tenant)
            if held is not None and now - held.checked < VERSION_CHECK_SECONDS:
                self._vectors.move_to_end(tenant)
                return held.entities, held.matrix
        version = self.graph.version(tenant)
        if held is None or held.version != version:
            entities, matrix = self.graph.entity_vectors(
                tenant, limit=self.policy.max_match_entities
            )
            held = _Vectors(version, now, entities, matrix)
        else:
            held.checked = now
        with self._lock:
            self._vectors[tenant] = held
            self._vectors.move_to_end(tenant)
            while len(self._vectors) > TENANTS_CACHED:
                self._vectors.popitem(last=False)
        return held.entities, held.matrix


def fuse_graph(
    hybrid: Sequence[ScoredChunk],
    hood: Neighbourhood,
    *,
    rrf_k: int,
    weight: float,
    limit: int,
) -> list[ScoredChunk]:
    """Weighted reciprocal-rank fusion of a ranked list with the graph's chunks; a chunk
    keeps the hybrid side's ranks and cosine similarity."""
    scores: dict[str, float] = {}
    kept: dict[str, ScoredChunk] = {}
    for rank, hit in enumerate(hybrid, start=1):
        scores[hit.chunk_id] = 1.0 / (rrf_k + rank)
        kept[hit.chunk_id] = hit
    for rank, chunk in enumerate(hood.chunks, start=1):
        scores[chunk.chunk_id] = scores.get(chunk.chunk_id, 0.0) + weight / (rrf_k + rank)
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    out = []
    for cid, score in ordered:
        h = kept.get(cid)
        out.append(
            ScoredChunk(cid, score)
            if h is None
            else ScoredChunk(cid, score, h.dense_rank, h.sparse_rank, h.similarity)
        )
    return out


def relations_for(hood: Neighbourhood, chunk_ids: Sequence[str]) -> list[RelationUsed]:
    """The walked relations stated by these (returned) chunks, each with only those of its
    chunks that were returned: what an answer built on them can cite."""
    shown = set(chunk_ids)
    out = []
    for r in hood.relations:
        carried = tuple(c for c in r.chunk_ids if c in shown)
        if carried:
            out.append(RelationUsed(r.source, r.kind, r.target, carried, r.hops))
    return out
