"""The graph walk in SQL: one bounded join per hop (the best-supported ``max_edges``
relations touching the frontier), then the chunks of the relations walked, at most
``CHUNKS_PER_RELATION`` each (a window function), so a hub entity mentioned in every
document costs a bounded read. Runs on SQLite and Postgres alike, inside a read scoped to
the tenant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, func, or_, select

from ragd.adapters.graph import tables as t
from ragd.domain.graph import EntityMatch, GraphChunk, Neighbourhood, RelationUsed
from ragd.domain.models import TenantId

BATCH = 500
CHUNKS_PER_RELATION = 4
MENTIONS_PER_SEED = 8
HOP_WEIGHT = {0: 1.0, 1: 1.0, 2: 0.5}
"""A chunk's score: the matched seed's score times this, summed over the ways it is reached."""


def walk(
    conn: Connection,
    tenant: TenantId,
    seeds: Sequence[EntityMatch],
    hops: int,
    max_edges: int,
    max_chunks: int,
) -> Neighbourhood:
    """The bounded walk behind ``neighbourhood``: hop 0 (mentions of the seeds), then one
    join per hop over the best-supported relations touching the frontier."""
    r, rc, m = t.graph_relations.c, t.graph_relation_chunks.c, t.graph_mentions.c
    weight: dict[int, float] = {int(s.entity_id): s.score for s in seeds}
    scores: dict[str, float] = defaultdict(float)
    best_hop: dict[str, int] = {}
    via: dict[str, list[int]] = defaultdict(list)

    def credit(chunk_id: str, score: float, hop: int, rel: int | None = None) -> None:
        scores[chunk_id] += score
        best_hop[chunk_id] = min(best_hop.get(chunk_id, hop), hop)
        if rel is not None and rel not in via[chunk_id]:
            via[chunk_id].append(rel)

    ranked_mentions = (
        select(
            m.entity_id,
            m.chunk_id,
            func.row_number().over(partition_by=m.entity_id, order_by=m.chunk_id).label("n"),
        )
        .where(m.tenant_id == tenant, m.entity_id.in_(list(weight)))
        .subquery()
    )
    for eid, chunk_id in conn.execute(
        select(ranked_mentions.c.entity_id, ranked_mentions.c.chunk_id).where(
            ranked_mentions.c.n <= MENTIONS_PER_SEED
        )
    ):
        credit(chunk_id, HOP_WEIGHT[0] * weight[eid], 0)
    walked: list[tuple[int, int, int, str, int, float]] = []  # id, src, dst, kind, hop, w
    frontier = dict(weight)
    seen_entities = set(weight)
    seen_relations: set[int] = set()
    for hop in range(1, hops + 1):
        if not frontier:
            break
        ids = list(frontier)
        support = func.count(rc.chunk_id).label("support")
        stmt = (
            select(r.id, r.source_id, r.target_id, r.kind, support)
            .join(t.graph_relation_chunks, rc.relation_id == r.id)
            .where(r.tenant_id == tenant, or_(r.source_id.in_(ids), r.target_id.in_(ids)))
            .group_by(r.id, r.source_id, r.target_id, r.kind)
            .order_by(support.desc(), r.id)
            .limit(max_edges + len(seen_relations))
        )
        nxt: dict[int, float] = {}
        taken = 0
        for rid, src, dst, kind, _ in conn.execute(stmt):
            if rid in seen_relations or taken >= max_edges:
                continue
            seen_relations.add(rid)
            taken += 1
            w = max(frontier.get(src, 0.0), frontier.get(dst, 0.0)) * HOP_WEIGHT[hop]
            walked.append((rid, src, dst, kind, hop, w))
            for other in (src, dst):
                if other not in seen_entities:
                    nxt[other] = max(nxt.get(other, 0.0), w)
        seen_entities.update(nxt)
        frontier = nxt
    if not walked:
        return _result(scores, best_hop, via, [], max_chunks)
    rel_weight = {w[0]: (w[4], w[5]) for w in walked}
    ranked = (
        select(
            rc.relation_id,
            rc.chunk_id,
            func.row_number().over(partition_by=rc.relation_id, order_by=rc.chunk_id).label("n"),
        )
        .where(rc.tenant_id == tenant, rc.relation_id.in_(list(rel_weight)))
        .subquery()
    )
    chunks_of: dict[int, list[str]] = defaultdict(list)
    for rid, chunk_id in conn.execute(
        select(ranked.c.relation_id, ranked.c.chunk_id).where(ranked.c.n <= CHUNKS_PER_RELATION)
    ):
        chunks_of[rid].append(chunk_id)
    entity_ids = sorted({x for w in walked for x in (w[1], w[2])})
    names: dict[int, str] = {}
    e = t.graph_entities.c
    for i in range(0, len(entity_ids), BATCH):
        part = entity_ids[i : i + BATCH]
        rows = conn.execute(select(e.id, e.name).where(e.tenant_id == tenant, e.id.in_(part)))
        names.update((r[0], r[1]) for r in rows)
    relations: list[RelationUsed] = []
    for rid, src, dst, kind, hop, w in walked:
        index = len(relations)
        relations.append(
            RelationUsed(names.get(src, ""), kind, names.get(dst, ""), tuple(chunks_of[rid]), hop)
        )
        for chunk_id in chunks_of[rid]:
            credit(chunk_id, w, hop, index)
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
