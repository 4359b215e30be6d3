"""GraphStore on the Store's own tables (SQLite and Postgres, the same Core statements).

Writes go through the caller's Store transaction scoped to the tenant (``scoped``), reads
through ``Database.run_read`` scoped to it, so on Postgres row-level security backs every
``WHERE tenant_id``. Traversal is SQL, in ``sql_walk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ragd.adapters.graph import tables as t
from ragd.adapters.graph.sql_walk import SqlReads
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM, scoped
from ragd.adapters.sql.schema import chunks as chunk_rows
from ragd.adapters.sql.schema import documents
from ragd.domain.graph import (
    ChunkExtraction,
    EntityMatch,
    Extraction,
    GraphStats,
    Neighbourhood,
    check_walk_bounds,
    extraction_from_json,
    extraction_to_json,
    normalise_name,
)
from ragd.domain.graph_visible import ChunkVisibility, seen_by
from ragd.domain.graph_walk import walk
from ragd.domain.models import DocumentStatus, TenantId, Vector, utcnow
from ragd.ports.store import Transaction

BATCH = 500
"""Values per ``IN (...)`` and rows per insert statement."""


def _parts(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), BATCH):
        yield values[i : i + BATCH]


def _insert_ignore(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping rows whose key exists (a concurrent build of the same tenant)."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for i in range(0, len(rows), BATCH):
        conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows[i : i + BATCH])


class SqlGraphStore:
    """GraphStore port on the Store's database (the default, ``RAGD_GRAPH_STORE=sql``)."""

    name = "sql"

    def __init__(self, db: Database, *, outbox: bool = False) -> None:
        self.db = db
        self.outbox = outbox
        """Also append each document change to ``graph_outbox`` (a Neo4j replica reads it)."""

    # ------------------------------------------------------------------ writes

    def write_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        version: int,
        chunks: Sequence[ChunkExtraction],
    ) -> bool:
        conn = scoped(tx, tenant)
        doc = conn.execute(
            select(documents.c.version, documents.c.status).where(
                documents.c.tenant_id == tenant, documents.c.id == document_id
            )
        ).first()
        if doc is None or doc.version != version or doc.status != DocumentStatus.INDEXED.value:
            return False
        wanted = [c.chunk_id for c in chunks]
        present: set[str] = set()
        for part in _parts(wanted):
            present.update(
                r[0]
                for r in conn.execute(
                    select(chunk_rows.c.id).where(
                        chunk_rows.c.tenant_id == tenant,
                        chunk_rows.c.document_id == document_id,
                        chunk_rows.c.id.in_(part),
                    )
                )
            )
        items = [c for c in chunks if c.chunk_id in present]
        try:
            # A savepoint: a delete or re-index committing its chunk removal while this
            # runs makes a mention's foreign key fail; the document is then simply not
            # built this turn (its next version is pending again), not a crashed worker.
            with conn.begin_nested():
                self._remove(conn, tenant, document_id)
                self._write(conn, tenant, document_id, items)
                _insert_ignore(  # ignore: a concurrent build of the same document wrote it
                    conn,
                    t.graph_documents,
                    [
                        {
                            "document_id": document_id,
                            "tenant_id": tenant,
                            "version": version,
                            "built_at": utcnow(),
                        }
                    ],
                )
                self._log(conn, tenant, document_id, "upsert")
        except IntegrityError:
            return False
        return True

    def _write(
        self, conn: Connection, tenant: TenantId, doc: str, items: Sequence[ChunkExtraction]
    ) -> None:
        names: dict[str, tuple[str, str]] = {}  # key -> (name, type)
        alias_of: dict[str, str] = {}  # alias key -> entity key
        for item in items:
            for e in item.extraction.entities:
                key = normalise_name(e.name)
                names.setdefault(key, (e.name[:200], e.type[:32]))
                for a in e.aliases:
                    if (ak := normalise_name(a)) and ak != key:
                        alias_of.setdefault(ak, key)
        if not names:
            return
        # A name that is already another entity's alias (TNF of tumour necrosis factor)
        # joins that entity instead of becoming one of its own.
        known_alias: dict[str, int] = {}
        for part in _parts(list(names)):
            for ak, eid in conn.execute(
                select(t.graph_aliases.c.alias_key, t.graph_aliases.c.entity_id).where(
                    t.graph_aliases.c.tenant_id == tenant, t.graph_aliases.c.alias_key.in_(part)
                )
            ):
                known_alias.setdefault(ak, eid)
        own = [k for k in names if k not in known_alias and k not in alias_of]
        _insert_ignore(
            conn,
            t.graph_entities,
            [
                {"tenant_id": tenant, "key": k, "name": names[k][0], "type": names[k][1]}
                for k in own
            ],
        )
        ids: dict[str, int] = dict(known_alias)
        lookup = [*own, *set(alias_of.values())]
        for part in _parts(lookup):
            for key, eid in conn.execute(
                select(t.graph_entities.c.key, t.graph_entities.c.id).where(
                    t.graph_entities.c.tenant_id == tenant, t.graph_entities.c.key.in_(part)
                )
            ):
                ids[key] = eid
        for ak, key in alias_of.items():
            if key in ids:
                ids.setdefault(ak, ids[key])
        mentions, aliases, edges = set(), set(), set()
        for item in items:
            for e in item.extraction.entities:
                key = normalise_name(e.name)
                if key not in ids:
                    continue
                mentions.add((ids[key], item.chunk_id))
                if key in known_alias:
                    aliases.add((key, ids[key], item.chunk_id))
                for a in e.aliases:
                    if (ak := normalise_name(a)) and ak != key:
                        aliases.add((ak, ids[key], item.chunk_id))
            for r in item.extraction.relations:
                s, g = ids.get(normalise_name(r.source)), ids.get(normalise_name(r.target))
                if s is not None and g is not None and s != g:
                    edges.add((s, g, r.kind[:48], item.chunk_id))
        _insert_ignore(
            conn,
            t.graph_mentions,
            [
                {"entity_id": e, "chunk_id": c, "tenant_id": tenant, "document_id": doc}
                for e, c in mentions
            ],
        )
        _insert_ignore(
            conn,
            t.graph_aliases,
            [
                {
                    "tenant_id": tenant,
                    "alias_key": a,
                    "entity_id": e,
                    "chunk_id": c,
                    "document_id": doc,
                }
                for a, e, c in aliases
            ],
        )
        triples = {(s, g, k) for s, g, k, _ in edges}
        _insert_ignore(
            conn,
            t.graph_relations,
            [
                {"tenant_id": tenant, "source_id": s, "target_id": g, "kind": k}
                for s, g, k in triples
            ],
        )
        rel_ids: dict[tuple[int, int, str], int] = {}
        sources = sorted({s for s, _, _ in triples})
        rel = t.graph_relations.c
        for part in _parts(sources):
            for rid, s, g, k in conn.execute(
                select(rel.id, rel.source_id, rel.target_id, rel.kind).where(
                    rel.tenant_id == tenant, rel.source_id.in_(part)
                )
            ):
                if (s, g, k) in triples:
                    rel_ids[(s, g, k)] = rid
        _insert_ignore(
            conn,
            t.graph_relation_chunks,
            [
                {
                    "relation_id": rel_ids[(s, g, k)],
                    "chunk_id": c,
                    "tenant_id": tenant,
                    "document_id": doc,
                }
                for s, g, k, c in edges
                if (s, g, k) in rel_ids
            ],
        )

    def remove_document(self, tx: Transaction, tenant: TenantId, document_id: str) -> None:
        conn = scoped(tx, tenant)
        if self._remove(conn, tenant, document_id):
            self._log(conn, tenant, document_id, "delete")

    def _remove(self, conn: Connection, tenant: TenantId, doc: str) -> bool:
        """Delete the document's links, then what only they supported. True when it had a
        graph (links or a build record)."""
        m, a, rc = t.graph_mentions.c, t.graph_aliases.c, t.graph_relation_chunks.c
        entity_ids = {
            r[0]
            for r in conn.execute(
                select(m.entity_id).where(m.tenant_id == tenant, m.document_id == doc)
            )
        }
        entity_ids.update(
            r[0]
            for r in conn.execute(
                select(a.entity_id).where(a.tenant_id == tenant, a.document_id == doc)
            )
        )
        relation_ids = {
            r[0]
            for r in conn.execute(
                select(rc.relation_id).where(rc.tenant_id == tenant, rc.document_id == doc)
            )
        }
        for table in (t.graph_mentions, t.graph_aliases, t.graph_relation_chunks):
            conn.execute(
                delete(table).where(table.c.tenant_id == tenant, table.c.document_id == doc)
            )
        built = conn.execute(
            delete(t.graph_documents).where(
                t.graph_documents.c.tenant_id == tenant, t.graph_documents.c.document_id == doc
            )
        ).rowcount
        r, e = t.graph_relations, t.graph_entities
        for part in _parts(sorted(relation_ids)):
            conn.execute(
                delete(r).where(
                    r.c.tenant_id == tenant,
                    r.c.id.in_(part),
                    ~exists().where(t.graph_relation_chunks.c.relation_id == r.c.id),
                )
            )
        for part in _parts(sorted(entity_ids)):
            orphan = and_(
                ~exists().where(t.graph_mentions.c.entity_id == e.c.id),
                ~exists().where(t.graph_aliases.c.entity_id == e.c.id),
            )
            # Relations of a removed entity go with it (and explicitly: SQLite cascades
            # only with foreign keys on, which ragd's connections have, a raw one may not).
            conn.execute(
                delete(r).where(
                    r.c.tenant_id == tenant,
                    or_(
                        r.c.source_id.in_(select(e.c.id).where(e.c.id.in_(part), orphan)),
                        r.c.target_id.in_(select(e.c.id).where(e.c.id.in_(part), orphan)),
                    ),
                )
            )
            conn.execute(delete(e).where(e.c.tenant_id == tenant, e.c.id.in_(part), orphan))
        return bool(entity_ids or relation_ids or built)

    def _log(self, conn: Connection, tenant: TenantId, doc: str, op: str) -> None:
        if self.outbox:
            conn.execute(
                insert(t.graph_outbox).values(
                    tenant_id=tenant, document_id=doc, op=op, created_at=utcnow()
                )
            )

    def erase_tenant(self, tenant: TenantId) -> int:
        removed = 0
        with self.db.write(tenant) as conn:
            for name in reversed(t.TENANT_TABLES):  # links before what they link
                table = t.metadata.tables[name]
                removed += conn.execute(delete(table).where(table.c.tenant_id == tenant)).rowcount
        return removed

    # ------------------------------------------------------------------ the build's reads

    def pending_documents(self, limit: int) -> list[tuple[TenantId, str, int]]:
        d, g = documents.c, t.graph_documents.c
        stmt = (
            select(d.tenant_id, d.id, d.version)
            .select_from(documents.outerjoin(t.graph_documents, g.document_id == d.id))
            .where(
                d.status == DocumentStatus.INDEXED.value,
                or_(g.document_id.is_(None), g.version != d.version),
            )
            .order_by(d.updated_at, d.id)
            .limit(limit)
        )
        rows = self.db.run_read(lambda conn: conn.execute(stmt).all(), SYSTEM)
        return [(TenantId(r[0]), r[1], r[2]) for r in rows]

    def cached_extractions(self, tenant: TenantId, keys: Sequence[str]) -> dict[str, Extraction]:
        c = t.graph_extraction_cache.c

        def read(conn: Connection) -> dict[str, Extraction]:
            found: dict[str, Extraction] = {}
            for part in _parts(list(dict.fromkeys(keys))):
                for key, payload in conn.execute(
                    select(c.key, c.payload).where(c.tenant_id == tenant, c.key.in_(part))
                ):
                    found[key] = extraction_from_json(payload)
            return found

        return self.db.run_read(read, tenant)

    def cache_extractions(self, tenant: TenantId, items: Mapping[str, Extraction]) -> None:
        now = utcnow()
        rows = [
            {"tenant_id": tenant, "key": k, "payload": extraction_to_json(e), "created_at": now}
            for k, e in items.items()
        ]
        with self.db.write(tenant) as conn:
            _insert_ignore(conn, t.graph_extraction_cache, rows)

    def entities_without_vector(self, tenant: TenantId, *, limit: int) -> list[tuple[str, str]]:
        e = t.graph_entities.c
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(e.id, e.name)
                .where(e.tenant_id == tenant, e.vector.is_(None))
                .order_by(e.id)
                .limit(limit)
            ).all(),
            tenant,
        )
        return [(str(r[0]), r[1]) for r in rows]

    def set_entity_vectors(self, tenant: TenantId, vectors: Mapping[str, Vector]) -> None:
        e = t.graph_entities.c
        with self.db.write(tenant) as conn:
            for eid, vec in vectors.items():
                conn.execute(
                    update(t.graph_entities)
                    .where(e.tenant_id == tenant, e.id == int(eid))
                    .values(vector=np.asarray(vec, np.float32).tobytes())
                )

    # ------------------------------------------------------------------ search reads

    def match_entities(
        self, tenant: TenantId, keys: Sequence[str], *, limit: int
    ) -> list[EntityMatch]:
        keys = [k for k in dict.fromkeys(keys) if k][:BATCH]
        if not keys:
            return []
        e, a, m = t.graph_entities.c, t.graph_aliases.c, t.graph_mentions.c
        by_alias = select(a.entity_id).where(a.tenant_id == tenant, a.alias_key.in_(keys))
        mentions = (
            select(func.count())
            .select_from(t.graph_mentions)
            .where(m.entity_id == e.id)
            .scalar_subquery()
        )
        stmt = (
            select(e.id, e.key, e.name)
            .where(e.tenant_id == tenant, or_(e.key.in_(keys), e.id.in_(by_alias)))
            .order_by(mentions.desc(), e.id)
            .limit(limit)
        )
        rows = self.db.run_read(lambda conn: conn.execute(stmt).all(), tenant)
        return [EntityMatch(str(r[0]), r[1], r[2], 1.0) for r in rows]

    def entity_vectors(self, tenant: TenantId, *, limit: int) -> tuple[list[EntityMatch], Vector]:
        e = t.graph_entities.c
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(e.id, e.key, e.name, e.vector)
                .where(e.tenant_id == tenant, e.vector.is_not(None))
                .order_by(e.id)
                .limit(limit)
            ).all(),
            tenant,
        )
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        matrix = np.stack([np.frombuffer(r[3], np.float32) for r in rows])
        return [EntityMatch(str(r[0]), r[1], r[2], 0.0) for r in rows], matrix

    def neighbourhood(
        self,
        tenant: TenantId,
        seeds: Sequence[EntityMatch],
        *,
        hops: int,
        max_edges: int,
        max_chunks: int,
        visible: ChunkVisibility | None = None,
    ) -> Neighbourhood:
        check_walk_bounds(hops, max_edges, max_chunks)
        if not seeds:
            return Neighbourhood()
        return self.db.run_read(
            lambda conn: walk(
                seen_by(SqlReads(conn, tenant), visible),
                seeds,
                hops=hops,
                max_edges=max_edges,
                max_chunks=max_chunks,
            ),
            tenant,
        )

    def stats(self, tenant: TenantId) -> GraphStats:
        def count(conn: Connection, table: Any) -> int:
            return int(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
                ).scalar_one()
            )

        return self.db.run_read(
            lambda conn: GraphStats(
                entities=count(conn, t.graph_entities),
                relations=count(conn, t.graph_relations),
                links=count(conn, t.graph_mentions)
                + count(conn, t.graph_relation_chunks)
                + count(conn, t.graph_aliases),
                documents=count(conn, t.graph_documents),
            ),
            tenant,
        )

    def version(self, tenant: TenantId) -> str:
        g, e = t.graph_documents.c, t.graph_entities.c
        row = self.db.run_read(
            lambda conn: conn.execute(
                select(
                    select(func.count()).where(g.tenant_id == tenant).scalar_subquery(),
                    select(func.max(g.built_at)).where(g.tenant_id == tenant).scalar_subquery(),
                    select(func.count())
                    .where(e.tenant_id == tenant, e.vector.is_not(None))
                    .scalar_subquery(),
                )
            ).one(),
            tenant,
        )
        return f"{row[0]}:{row[1]}:{row[2]}"
