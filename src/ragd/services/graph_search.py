"""Graph-augmented retrieval: the ``graph`` mode and the ``hybrid+graph`` fusion.

The question's names (``question_names``: the extractor's entities, and its content words
and word pairs, since questions are often lower case) are matched to the tenant's graph
entities by normalised name and alias, and, with an embedder, by the cosine of their
MiniLM embeddings with the entities' name vectors (at least ``name_similarity``). Their
neighbourhood, 1 or 2 hops and bounded (``GraphStore.neighbourhood``), selects chunks:
those that mention a matched entity or state a relation walked from one. ``hybrid+graph``
fuses the hybrid list with what only the graph reaches (chunks that do not mention a
matched entity) by reciprocal rank, the graph side weighted ``weight``; the relations
walked come back with the chunks that state them, so an answer can cite the passage
behind each relation it uses.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragd.domain.entities import extract_entities, question_names
from ragd.domain.graph import (
    EntityMatch,
    GraphChunk,
    Neighbourhood,
    RelationUsed,
    normalise_name,
)
from ragd.domain.graph_visible import ChunkVisibility
from ragd.domain.models import ScoredChunk, TenantId, Vector
from ragd.ports import Embedder
from ragd.ports.graph import GraphStore

VERSION_CHECK_SECONDS = 5.0
TENANTS_CACHED = 16
MAX_EMBEDDED_PHRASES = 8
ANCHORS = 10
"""The hybrid list's first chunks that can confirm a bridge entity (``fuse``)."""
ENTERS_BELOW = 2
"""With ``weight`` 1 the graph's best chunk enters below the hybrid list's first two:
direct evidence for the question's own words keeps the top places."""


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
    min_score: float = 0.25
    """Chunks the walk scores lower are left out: reached only through names that are
    everywhere (``graph_walk.specificity``), they would crowd out better passages."""


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

    def neighbourhood(
        self, tenant: TenantId, question: str, visible: ChunkVisibility | None = None
    ) -> Neighbourhood:
        seeds = self.seeds(tenant, question)
        if not seeds:
            return Neighbourhood()
        p = self.policy
        hood = self.graph.neighbourhood(
            tenant,
            seeds,
            hops=p.hops,
            max_edges=p.max_edges,
            max_chunks=p.max_chunks,
            visible=visible,
        )
        kept = [c for c in hood.chunks if c.score >= p.min_score]
        return Neighbourhood(kept, hood.relations)

    def scored(
        self, tenant: TenantId, question: str, visible: ChunkVisibility | None = None
    ) -> tuple[list[ScoredChunk], Neighbourhood]:
        """The ``graph`` mode: the neighbourhood's chunks as a ranked list."""
        hood = self.neighbourhood(tenant, question, visible)
        return [ScoredChunk(c.chunk_id, c.score) for c in hood.chunks], hood

    def fuse(
        self,
        tenant: TenantId,
        question: str,
        hybrid: Sequence[ScoredChunk],
        *,
        rrf_k: int,
        limit: int,
        visible: ChunkVisibility | None = None,
    ) -> tuple[list[ScoredChunk], Neighbourhood]:
        """``hybrid+graph``: the hybrid list and what only the graph reaches, by weighted
        reciprocal rank.

        Only the chunks of the walk's last hop are fused: every chunk nearer mentions one
        of the question's entities, and ranking those is the hybrid list's job (they share
        its words). With 2 hops, a chunk comes in only through a *bridge* that retrieved
        evidence confirms: an entity that a hop-1 relation stated in one of the hybrid
        list's first ``ANCHORS`` chunks links to the question's entity. A bridge found
        nowhere near the top of the list is a detour the question did not ask for.
        """
        hood = self.neighbourhood(tenant, question, visible)
        last = max(1, self.policy.hops)
        anchors = {h.chunk_id for h in hybrid[:ANCHORS]}
        bridges = {
            name
            for r in hood.relations
            if r.hops == 1 and anchors.intersection(r.chunk_ids)
            for name in (r.source, r.target)
        }

        def anchored(c: GraphChunk) -> bool:
            if last == 1:
                return True
            rels = [hood.relations[i] for i in c.relations]
            return any(r.hops == last and {r.source, r.target} & bridges for r in rels)

        chunks = [c for c in hood.chunks if c.hops >= last and anchored(c)]
        beyond = Neighbourhood(chunks, hood.relations)
        fused = fuse_graph(hybrid, beyond, rrf_k=rrf_k, weight=self.policy.weight, limit=limit)
        return fused, hood

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
    """The hybrid list with the graph's chunks of documents it lacks merged in by
    reciprocal rank.

    A chunk the hybrid list has keeps its place (and its ranks and cosine similarity): the
    graph does not boost it, since the list ranked it by the question's own words; nor is
    another chunk of a document the list already holds added (the graph is there to reach
    documents the question's words do not). A chunk only the graph found scores
    ``weight / (rrf_k + rank + ENTERS_BELOW)``: the graph's best enters below the hybrid
    list's first two (with ``weight`` 1), the rest interleave."""
    scores: dict[str, float] = {}
    kept: dict[str, ScoredChunk] = {}
    for rank, hit in enumerate(hybrid, start=1):
        scores[hit.chunk_id] = 1.0 / (rrf_k + rank)
        kept[hit.chunk_id] = hit
    listed = {document_of(c) for c in scores}
    rank = 0
    for chunk in hood.chunks:
        if chunk.chunk_id in scores or document_of(chunk.chunk_id) in listed:
            continue  # a document the list already has: nothing new to add
        rank += 1
        scores[chunk.chunk_id] = weight / (rrf_k + rank + ENTERS_BELOW)
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


def document_of(chunk_id: str) -> str:
    """The document of a chunk id (``<document>:<version>:<ordinal>``, as indexing makes
    them)."""
    return chunk_id.split(":", 1)[0]


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
