"""The bounded neighbourhood walk, independent of where the graph is stored.

An adapter answers four small questions (``GraphReads``): which chunks mention these
entities, which relations touch them (best supported first, bounded), which chunks state
these relations, and what these entities are called. The walk asks them hop by hop and
scores chunks the same way on every backend, so the SQL tables and Neo4j rank alike:

- an entity's weight is its match score (seeds) or the weight of the entity the walk came
  from times ``HOP_WEIGHT[h]`` (hop h), times its *specificity*, 1 / log2(1 + the chunks
  that mention it): a name found in one chunk counts fully, one in every abstract of a
  corpus ("cancer", "T cells") hardly at all, so hubs neither seed nor carry a walk;
- hop 0: a chunk mentioning a seed scores the seed's weight; hop h: a chunk stating a
  walked relation scores the weight of the entity the relation leads to;
- a chunk reached several ways adds them up; ties break by chunk id.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ragd.domain.graph import EntityMatch, GraphChunk, Neighbourhood, RelationUsed

CHUNKS_PER_RELATION = 4
MENTIONS_PER_SEED = 8
HOP_WEIGHT = {0: 1.0, 1: 1.0, 2: 0.5}


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    target: str
    kind: str


class GraphReads(Protocol):
    """The four reads of one tenant's graph that the walk needs (ids are strings)."""

    def mentions(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        """``(entity id, chunk id)``, at most ``per_entity`` per entity (by chunk id)."""
        ...

    def edges(self, entity_ids: Sequence[str], limit: int) -> list[Edge]:
        """Relations with an end among ``entity_ids``, most chunks first, then by id."""
        ...

    def chunks_of(self, relation_ids: Sequence[str], per_relation: int) -> list[tuple[str, str]]:
        """``(relation id, chunk id)``, at most ``per_relation`` per relation (by chunk id)."""
        ...

    def names(self, entity_ids: Sequence[str]) -> dict[str, str]: ...

    def degrees(self, entity_ids: Sequence[str]) -> dict[str, int]:
        """How many chunks mention each entity."""
        ...


def specificity(mentions: int) -> float:
    """1 for a name mentioned in one chunk, falling with every doubling of its mentions."""
    return 1.0 / math.log2(1 + max(mentions, 1))


def walk(
    reads: GraphReads,
    seeds: Sequence[EntityMatch],
    *,
    hops: int,
    max_edges: int,
    max_chunks: int,
) -> Neighbourhood:
    """The chunks within ``hops`` of the seeds, best first (see the module doc)."""
    degree = reads.degrees([s.entity_id for s in seeds])
    weight = {s.entity_id: s.score * specificity(degree.get(s.entity_id, 1)) for s in seeds}
    scores: dict[str, float] = defaultdict(float)
    best_hop: dict[str, int] = {}
    via: dict[str, list[int]] = defaultdict(list)

    def credit(chunk_id: str, score: float, hop: int, rel: int | None = None) -> None:
        scores[chunk_id] += score
        best_hop[chunk_id] = min(best_hop.get(chunk_id, hop), hop)
        if rel is not None and rel not in via[chunk_id]:
            via[chunk_id].append(rel)

    for eid, chunk_id in reads.mentions(list(weight), MENTIONS_PER_SEED):
        credit(chunk_id, HOP_WEIGHT[0] * weight.get(eid, 0.0), 0)
    walked: list[tuple[Edge, int, float]] = []
    frontier = dict(weight)
    seen_entities = set(weight)
    seen_relations: set[str] = set()
    for hop in range(1, hops + 1):
        if not frontier:
            break
        nxt: dict[str, float] = {}
        edges: list[Edge] = []
        for edge in reads.edges(list(frontier), max_edges + len(seen_relations)):
            if edge.id not in seen_relations and len(edges) < max_edges:
                seen_relations.add(edge.id)
                edges.append(edge)
        ends = {x for e in edges for x in (e.source, e.target)} - set(frontier)
        degree = reads.degrees(sorted(ends)) if ends else {}
        for edge in edges:
            came = edge.source if edge.source in frontier else edge.target
            other = edge.target if came == edge.source else edge.source
            w = frontier[came] * HOP_WEIGHT[hop]
            if other not in frontier:
                w *= specificity(degree.get(other, 1))
            walked.append((edge, hop, w))
            if other not in seen_entities:
                nxt[other] = max(nxt.get(other, 0.0), w)
        seen_entities.update(nxt)
        frontier = nxt
    relations: list[RelationUsed] = []
    if walked:
        chunks_of: dict[str, list[str]] = defaultdict(list)
        for rid, chunk_id in reads.chunks_of([e.id for e, _, _ in walked], CHUNKS_PER_RELATION):
            chunks_of[rid].append(chunk_id)
        names = reads.names(sorted({x for e, _, _ in walked for x in (e.source, e.target)}))
        for edge, hop, w in walked:
            carried = sorted(chunks_of[edge.id])
            relations.append(
                RelationUsed(
                    names.get(edge.source, ""),
                    edge.kind,
                    names.get(edge.target, ""),
                    tuple(carried),
                    hop,
                )
            )
            for chunk_id in carried:
                credit(chunk_id, w, hop, len(relations) - 1)
    return _result(scores, best_hop, via, relations, max_chunks)


def _result(
    scores: Mapping[str, float],
    best_hop: Mapping[str, int],
    via: Mapping[str, list[int]],
    relations: list[RelationUsed],
    max_chunks: int,
) -> Neighbourhood:
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:max_chunks]
    return Neighbourhood(
        [GraphChunk(c, s, best_hop[c], tuple(via.get(c, ()))) for c, s in ordered], relations
    )
