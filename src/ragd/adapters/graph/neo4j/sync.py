"""Keeping the Neo4j replica in step with the Store's graph tables.

``drain`` applies ``graph_outbox`` rows oldest first: for each document it removes what
the replica holds of it and writes what the Store holds now (so applying a row twice, or
an old row after a newer one, converges on the Store's state), then deletes the row.
``reconcile`` compares the two per document (mention and statement links) and with
``repair`` rewrites each document that differs. Run one sync at a time (the worker's, or
``ragd graph sync``): two concurrent drains may apply one document's rows out of order
for a moment, which the next row or ``reconcile`` puts right.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, func, select

from ragd.adapters.graph import tables as t
from ragd.adapters.graph.neo4j import cypher as q
from ragd.adapters.graph.neo4j.cypher import CypherRunner, Statement
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.domain.models import TenantId

BATCH = 100


class Neo4jGraphSync:
    def __init__(self, db: Database, runner: CypherRunner) -> None:
        self.db = db
        self.runner = runner

    def ensure_schema(self) -> None:
        self.runner.run([(s, {}) for s in q.SCHEMA], write=True)

    # ------------------------------------------------------------------ outbox

    def backlog(self) -> int:
        o = t.graph_outbox.c
        return int(
            self.db.run_read(
                lambda conn: conn.execute(
                    select(func.count()).where(o.applied_at.is_(None))
                ).scalar_one(),
                SYSTEM,
            )
        )

    def drain(self, *, max_seconds: float | None = None) -> int:
        o = t.graph_outbox.c
        started, applied = time.monotonic(), 0
        while max_seconds is None or time.monotonic() - started < max_seconds:
            rows = self.db.run_read(
                lambda conn: conn.execute(
                    select(o.id, o.tenant_id, o.document_id)
                    .where(o.applied_at.is_(None))
                    .order_by(o.id)
                    .limit(BATCH)
                ).all(),
                SYSTEM,
            )
            if not rows:
                break
            latest: dict[tuple[str, str], list[int]] = {}
            for rid, tenant, doc in rows:
                latest.setdefault((tenant, doc), []).append(rid)
            for (tenant, doc), ids in latest.items():
                self.apply(TenantId(tenant), doc)
                with self.db.write(SYSTEM) as conn:
                    conn.execute(delete(t.graph_outbox).where(o.id.in_(ids)))
                applied += len(ids)
        return applied

    def apply(self, tenant: TenantId, document_id: str) -> None:
        """Make the replica hold exactly the Store's graph of this document."""
        rows = self.db.run_read(lambda conn: _document_rows(conn, tenant, document_id), tenant)
        base = {"t": tenant, "d": document_id}
        old_entities, old_facts = self.runner.run(
            [(q.DOCUMENT_ENTITIES, base), (q.DOCUMENT_FACTS, base)], write=False
        )
        self.runner.run(
            [
                *_rewrite(tenant, document_id, *rows),
                (q.DELETE_ORPHAN_FACTS, {"t": tenant, "ids": [r[0] for r in old_facts]}),
                (q.DELETE_ORPHAN_ENTITIES, {"t": tenant, "ids": [r[0] for r in old_entities]}),
            ],
            write=True,
        )

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, *, repair: bool) -> dict[str, int]:
        """Documents whose links differ between the Store and the replica (``drift``),
        and with ``repair`` how many were rewritten."""
        tenants = {r[0] for r in self.runner.run([(q.TENANTS, {})], write=False)[0]}
        g = t.graph_documents.c
        tenants |= set(
            self.db.run_read(
                lambda conn: [r[0] for r in conn.execute(select(g.tenant_id).distinct())],
                SYSTEM,
            )
        )
        drift = repaired = checked = 0
        for name in sorted(tenants):
            tenant = TenantId(name)
            store = self.db.run_read(partial(_link_counts, tenant=tenant), tenant)
            mentions, stated = self.runner.run(
                [(q.MENTIONS_PER_DOCUMENT, {"t": tenant}), (q.STATED_PER_DOCUMENT, {"t": tenant})],
                write=False,
            )
            replica: dict[str, list[int]] = {}
            for doc, n in mentions:
                replica.setdefault(str(doc), [0, 0])[0] = int(n)
            for doc, n in stated:
                replica.setdefault(str(doc), [0, 0])[1] = int(n)
            for doc in sorted(set(store) | set(replica)):
                checked += 1
                if store.get(doc, [0, 0]) != replica.get(doc, [0, 0]):
                    drift += 1
                    if repair:
                        self.apply(tenant, doc)
                        repaired += 1
        return {"documents_checked": checked, "drift": drift, "repaired": repaired}


def _document_rows(
    conn: Connection, tenant: TenantId, doc: str
) -> tuple[list[list[Any]], list[str], list[list[Any]], list[list[Any]], list[list[Any]]]:
    """What the Store holds of one document: entities, chunks, mentions, facts, statements."""
    m, rc = t.graph_mentions.c, t.graph_relation_chunks.c
    e, r = t.graph_entities.c, t.graph_relations.c
    mentions = [
        [eid, cid]
        for eid, cid in conn.execute(
            select(m.entity_id, m.chunk_id).where(m.tenant_id == tenant, m.document_id == doc)
        )
    ]
    stated = [
        [rid, cid]
        for rid, cid in conn.execute(
            select(rc.relation_id, rc.chunk_id).where(rc.tenant_id == tenant, rc.document_id == doc)
        )
    ]
    facts = [
        [rid, s, g, k]
        for rid, s, g, k in conn.execute(
            select(r.id, r.source_id, r.target_id, r.kind).where(
                r.tenant_id == tenant, r.id.in_(sorted({x[0] for x in stated}))
            )
        )
    ]
    entity_ids = sorted({x[0] for x in mentions} | {f[1] for f in facts} | {f[2] for f in facts})
    entities = [
        [i, k, n]
        for i, k, n in conn.execute(
            select(e.id, e.key, e.name).where(e.tenant_id == tenant, e.id.in_(entity_ids))
        )
    ]
    chunks = sorted({x[1] for x in mentions} | {x[1] for x in stated})
    return entities, chunks, mentions, facts, stated


def _rewrite(
    tenant: TenantId,
    doc: str,
    entities: list[list[Any]],
    chunks: list[str],
    mentions: list[list[Any]],
    facts: list[list[Any]],
    stated: list[list[Any]],
) -> Sequence[Statement]:
    """Statements removing the replica's copy of the document, then writing the Store's
    (the caller adds the sweep of the nodes only the old copy supported)."""
    base = {"t": tenant, "d": doc}
    return [
        (q.DELETE_CHUNKS, base),
        (q.MERGE_ENTITIES, {**base, "rows": entities}),
        (q.MERGE_CHUNKS, {**base, "ids": chunks}),
        (q.MERGE_MENTIONS, {**base, "rows": mentions}),
        (q.MERGE_FACTS, {**base, "rows": facts}),
        (q.MERGE_STATED, {**base, "rows": stated}),
    ]


def _link_counts(conn: Connection, *, tenant: TenantId) -> dict[str, list[int]]:
    m, rc = t.graph_mentions.c, t.graph_relation_chunks.c
    out: dict[str, list[int]] = {}
    for doc, n in conn.execute(
        select(m.document_id, func.count()).where(m.tenant_id == tenant).group_by(m.document_id)
    ):
        out.setdefault(doc, [0, 0])[0] = int(n)
    for doc, n in conn.execute(
        select(rc.document_id, func.count()).where(rc.tenant_id == tenant).group_by(rc.document_id)
    ):
        out.setdefault(doc, [0, 0])[1] = int(n)
    return out
