"""The walk's reads (``ragd.domain.graph_walk.GraphReads``) in SQL, on one connection
scoped to the tenant: one bounded join per hop (the best-supported relations touching the
frontier, a ``GROUP BY`` with a ``LIMIT``), and the chunks of the relations walked, at
most a few each (a window function), so a hub entity mentioned in every document costs a
bounded read. The same statements run on SQLite and Postgres.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, or_, select

from ragd.adapters.graph import tables as t
from ragd.domain.graph_walk import Edge
from ragd.domain.models import TenantId

BATCH = 500


def _ints(ids: Sequence[str]) -> list[int]:
    return [int(i) for i in ids if i.isdigit()][:BATCH]


class SqlReads:
    def __init__(self, conn: Connection, tenant: TenantId) -> None:
        self.conn = conn
        self.tenant = tenant

    def mentions(self, entity_ids: Sequence[str], per_entity: int) -> list[tuple[str, str]]:
        m = t.graph_mentions.c
        ranked = (
            select(
                m.entity_id,
                m.chunk_id,
                func.row_number().over(partition_by=m.entity_id, order_by=m.chunk_id).label("n"),
            )
            .where(m.tenant_id == self.tenant, m.entity_id.in_(_ints(entity_ids)))
            .subquery()
        )
        rows = self.conn.execute(
            select(ranked.c.entity_id, ranked.c.chunk_id).where(ranked.c.n <= per_entity)
        )
        return [(str(e), c) for e, c in rows]

    def edges(self, entity_ids: Sequence[str], limit: int) -> list[Edge]:
        r, rc = t.graph_relations.c, t.graph_relation_chunks.c
        ids = _ints(entity_ids)
        support = func.count(rc.chunk_id).label("support")
        stmt = (
            select(r.id, r.source_id, r.target_id, r.kind, support)
            .join(t.graph_relation_chunks, rc.relation_id == r.id)
            .where(r.tenant_id == self.tenant, or_(r.source_id.in_(ids), r.target_id.in_(ids)))
            .group_by(r.id, r.source_id, r.target_id, r.kind)
            .order_by(support.desc(), r.id)
            .limit(limit)
        )
        return [Edge(str(i), str(s), str(g), k) for i, s, g, k, _ in self.conn.execute(stmt)]

    def chunks_of(self, relation_ids: Sequence[str], per_relation: int) -> list[tuple[str, str]]:
        rc = t.graph_relation_chunks.c
        out: list[tuple[str, str]] = []
        for i in range(0, len(relation_ids), BATCH):
            part = [int(x) for x in relation_ids[i : i + BATCH]]
            ranked = (
                select(
                    rc.relation_id,
                    rc.chunk_id,
                    func.row_number()
                    .over(partition_by=rc.relation_id, order_by=rc.chunk_id)
                    .label("n"),
                )
                .where(rc.tenant_id == self.tenant, rc.relation_id.in_(part))
                .subquery()
            )
            rows = self.conn.execute(
                select(ranked.c.relation_id, ranked.c.chunk_id).where(ranked.c.n <= per_relation)
            )
            out.extend((str(r), c) for r, c in rows)
        return out

    def names(self, entity_ids: Sequence[str]) -> dict[str, str]:
        e = t.graph_entities.c
        out: dict[str, str] = {}
        for i in range(0, len(entity_ids), BATCH):
            part = [int(x) for x in entity_ids[i : i + BATCH]]
            rows = self.conn.execute(
                select(e.id, e.name).where(e.tenant_id == self.tenant, e.id.in_(part))
            )
            out.update((str(r[0]), r[1]) for r in rows)
        return out

    def degrees(self, entity_ids: Sequence[str]) -> dict[str, int]:
        m = t.graph_mentions.c
        out: dict[str, int] = {}
        for i in range(0, len(entity_ids), BATCH):
            part = _ints(entity_ids[i : i + BATCH])
            rows = self.conn.execute(
                select(m.entity_id, func.count())
                .where(m.tenant_id == self.tenant, m.entity_id.in_(part))
                .group_by(m.entity_id)
            )
            out.update((str(e), int(n)) for e, n in rows)
        return out
