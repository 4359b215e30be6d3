"""SqlPermissions: collections, groups, grants and key scopes on the Store's database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError

from ragd.adapters.sql.access_schema import (
    api_key_collections,
    collections,
    grants,
    group_members,
    user_groups,
)
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import scoped
from ragd.adapters.sql.rows import aware
from ragd.adapters.sql.schema import documents
from ragd.domain.access import (
    DEFAULT_COLLECTION,
    EVERYONE,
    Collection,
    CollectionSettings,
    Grant,
    Group,
    Level,
    group_principal,
    level_allows,
    user_principal,
)
from ragd.domain.models import DocumentStatus, TenantId, utcnow
from ragd.errors import DocumentBusy, InvalidRequest, NotFound
from ragd.ports.store import Transaction


class SqlPermissions:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._initialised: set[str] = set()

    def ensure_defaults(self, tenant: TenantId) -> None:
        if tenant in self._initialised:
            return
        with self.db.write(tenant) as conn:
            have = conn.execute(
                select(func.count())
                .select_from(collections)
                .where(collections.c.tenant_id == tenant)
            ).scalar_one()
            if not have:
                now = utcnow()
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(collections).values(
                                tenant_id=tenant,
                                id=DEFAULT_COLLECTION,
                                name="Default",
                                description="",
                                settings={},
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        conn.execute(
                            insert(grants).values(
                                tenant_id=tenant,
                                collection_id=DEFAULT_COLLECTION,
                                principal=EVERYONE,
                                level=Level.WRITE.value,
                                created_at=now,
                            )
                        )
                except IntegrityError:
                    pass  # made concurrently
        self._initialised.add(tenant)

    # -- collections ---------------------------------------------------------------
    def list_collections(self, tenant: TenantId) -> list[Collection]:
        def read(conn: Connection) -> list[Collection]:
            counts: dict[str, int] = dict(
                conn.execute(
                    select(documents.c.collection_id, func.count())
                    .where(documents.c.tenant_id == tenant)
                    .group_by(documents.c.collection_id)
                ).all()
            )
            rows = conn.execute(
                select(collections)
                .where(collections.c.tenant_id == tenant)
                .order_by(collections.c.id)
            ).all()
            return [_collection(r._mapping, int(counts.get(r.id, 0))) for r in rows]

        return self.db.run_read(read, tenant)

    def get_collection(self, tenant: TenantId, collection_id: str) -> Collection:
        def read(conn: Connection) -> Collection:
            row = conn.execute(
                select(collections).where(
                    collections.c.tenant_id == tenant, collections.c.id == collection_id
                )
            ).first()
            if row is None:
                raise NotFound(f"collection {collection_id!r} not found")
            n = conn.execute(
                select(func.count())
                .select_from(documents)
                .where(documents.c.tenant_id == tenant, documents.c.collection_id == collection_id)
            ).scalar_one()
            return _collection(row._mapping, int(n))

        return self.db.run_read(read, tenant)

    def create_collection(
        self,
        tenant: TenantId,
        collection_id: str,
        name: str,
        description: str,
        settings: CollectionSettings,
    ) -> Collection:
        now = utcnow()
        try:
            with self.db.write(tenant) as conn:
                conn.execute(
                    insert(collections).values(
                        tenant_id=tenant,
                        id=collection_id,
                        name=name,
                        description=description,
                        settings=settings.as_dict(),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise InvalidRequest(f"collection {collection_id!r} already exists") from None
        return self.get_collection(tenant, collection_id)

    def update_collection(
        self,
        tenant: TenantId,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        settings: CollectionSettings | None = None,
    ) -> Collection:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description
        if settings is not None:
            values["settings"] = settings.as_dict()
        with self.db.write(tenant) as conn:
            done = conn.execute(
                update(collections)
                .where(collections.c.tenant_id == tenant, collections.c.id == collection_id)
                .values(**values)
            ).rowcount
        if not done:
            raise NotFound(f"collection {collection_id!r} not found")
        return self.get_collection(tenant, collection_id)

    def delete_collection(self, tenant: TenantId, collection_id: str) -> None:
        with self.db.write(tenant) as conn:
            for table, column in (
                (grants, grants.c.collection_id),
                (api_key_collections, api_key_collections.c.collection_id),
                (collections, collections.c.id),
            ):
                conn.execute(
                    delete(table).where(table.c.tenant_id == tenant, column == collection_id)
                )

    def documents_in(self, tenant: TenantId, collection_id: str) -> list[str]:
        return [
            r[0]
            for r in self.db.run_read(
                lambda conn: conn.execute(
                    select(documents.c.id).where(
                        documents.c.tenant_id == tenant, documents.c.collection_id == collection_id
                    )
                ).all(),
                tenant,
            )
        ]

    def place_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        *,
        collection_id: str | None = None,
        readers: Sequence[str] | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if collection_id is not None:
            values["collection_id"] = collection_id
        if readers is not None:
            values["readers"] = sorted(readers) if readers else null()
        conn = scoped(tx, tenant)
        done = conn.execute(
            update(documents)
            .where(
                documents.c.tenant_id == tenant,
                documents.c.id == document_id,
                documents.c.status.in_((DocumentStatus.INDEXED.value, DocumentStatus.FAILED.value)),
            )
            .values(**values)
        ).rowcount
        if done:
            return
        exists = conn.execute(
            select(documents.c.status).where(
                documents.c.tenant_id == tenant, documents.c.id == document_id
            )
        ).first()
        if exists is None:
            raise NotFound(f"document {document_id!r} not found")
        raise DocumentBusy(
            f"document {document_id} is {exists[0]}: move it or change its readers once it "
            "is indexed"
        )

    # -- groups --------------------------------------------------------------------
    def list_groups(self, tenant: TenantId) -> list[Group]:
        def read(conn: Connection) -> list[Group]:
            members: dict[str, list[str]] = {}
            for g, u in conn.execute(
                select(group_members.c.group_id, group_members.c.user_id)
                .where(group_members.c.tenant_id == tenant)
                .order_by(group_members.c.user_id)
            ).all():
                members.setdefault(g, []).append(u)
            rows = conn.execute(
                select(user_groups)
                .where(user_groups.c.tenant_id == tenant)
                .order_by(user_groups.c.id)
            ).all()
            return [
                Group(tenant, r.id, r.name, tuple(members.get(r.id, ())), aware(r.created_at))
                for r in rows
            ]

        return self.db.run_read(read, tenant)

    def create_group(self, tenant: TenantId, group_id: str, name: str) -> Group:
        now = utcnow()
        try:
            with self.db.write(tenant) as conn:
                conn.execute(
                    insert(user_groups).values(
                        tenant_id=tenant, id=group_id, name=name, created_at=now
                    )
                )
        except IntegrityError:
            raise InvalidRequest(f"group {group_id!r} already exists") from None
        return Group(tenant, group_id, name, (), now)

    def delete_group(self, tenant: TenantId, group_id: str) -> None:
        with self.db.write(tenant) as conn:
            done = conn.execute(
                delete(user_groups).where(
                    user_groups.c.tenant_id == tenant, user_groups.c.id == group_id
                )
            ).rowcount
            conn.execute(
                delete(group_members).where(
                    group_members.c.tenant_id == tenant, group_members.c.group_id == group_id
                )
            )
            conn.execute(
                delete(grants).where(
                    grants.c.tenant_id == tenant, grants.c.principal == group_principal(group_id)
                )
            )
        if not done:
            raise NotFound(f"group {group_id!r} not found")

    def set_member(self, tenant: TenantId, group_id: str, user_id: str, member: bool) -> None:
        with self.db.write(tenant) as conn:
            exists = conn.execute(
                select(user_groups.c.id).where(
                    user_groups.c.tenant_id == tenant, user_groups.c.id == group_id
                )
            ).first()
            if exists is None:
                raise NotFound(f"group {group_id!r} not found")
            where = and_(
                group_members.c.tenant_id == tenant,
                group_members.c.group_id == group_id,
                group_members.c.user_id == user_id,
            )
            conn.execute(delete(group_members).where(where))
            if member:
                conn.execute(
                    insert(group_members).values(
                        tenant_id=tenant, group_id=group_id, user_id=user_id
                    )
                )

    # -- grants --------------------------------------------------------------------
    def list_grants(self, tenant: TenantId, collection_id: str | None = None) -> list[Grant]:
        q = select(grants).where(grants.c.tenant_id == tenant)
        if collection_id is not None:
            q = q.where(grants.c.collection_id == collection_id)
        rows = self.db.run_read(
            lambda conn: conn.execute(q.order_by(grants.c.collection_id, grants.c.principal)).all(),
            tenant,
        )
        return [_grant(r._mapping) for r in rows]

    def set_grant(
        self, tenant: TenantId, collection_id: str, principal: str, level: Level | None
    ) -> Grant | None:
        where = and_(
            grants.c.tenant_id == tenant,
            grants.c.collection_id == collection_id,
            grants.c.principal == principal,
        )
        with self.db.write(tenant) as conn:
            exists = conn.execute(
                select(collections.c.id).where(
                    collections.c.tenant_id == tenant, collections.c.id == collection_id
                )
            ).first()
            if exists is None:
                raise NotFound(f"collection {collection_id!r} not found")
            before = conn.execute(select(grants).where(where)).first()
            conn.execute(delete(grants).where(where))
            if level is not None:
                conn.execute(
                    insert(grants).values(
                        tenant_id=tenant,
                        collection_id=collection_id,
                        principal=principal,
                        level=level.value,
                        created_at=utcnow(),
                    )
                )
        return None if before is None else _grant(before._mapping)

    # -- keys ----------------------------------------------------------------------
    def key_collections(self, tenant: TenantId, key_id: str) -> tuple[str, ...] | None:
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(api_key_collections.c.collection_id)
                .where(
                    api_key_collections.c.tenant_id == tenant,
                    api_key_collections.c.key_id == key_id,
                )
                .order_by(api_key_collections.c.collection_id)
            ).all(),
            tenant,
        )
        return tuple(r[0] for r in rows) or None

    def set_key_collections(
        self, tenant: TenantId, key_id: str, collections_: Sequence[str] | None
    ) -> None:
        with self.db.write(tenant) as conn:
            conn.execute(
                delete(api_key_collections).where(
                    api_key_collections.c.tenant_id == tenant,
                    api_key_collections.c.key_id == key_id,
                )
            )
            for c in sorted(set(collections_ or ())):
                conn.execute(
                    insert(api_key_collections).values(
                        tenant_id=tenant, key_id=key_id, collection_id=c
                    )
                )

    # -- resolution ----------------------------------------------------------------
    def resolve(self, tenant: TenantId, user_id: str) -> tuple[tuple[str, ...], dict[str, Level]]:
        def read(conn: Connection) -> tuple[tuple[str, ...], dict[str, Level]]:
            groups = conn.execute(
                select(group_members.c.group_id).where(
                    group_members.c.tenant_id == tenant, group_members.c.user_id == user_id
                )
            ).all()
            principals = (
                EVERYONE,
                user_principal(user_id),
                *(group_principal(g[0]) for g in groups),
            )
            best: dict[str, Level] = {}
            for collection_id, level in conn.execute(
                select(grants.c.collection_id, grants.c.level).where(
                    grants.c.tenant_id == tenant, grants.c.principal.in_(principals)
                )
            ).all():
                lv = Level(level)
                if collection_id not in best or level_allows(lv, best[collection_id]):
                    best[collection_id] = lv
            return tuple(sorted(principals)), best

        return self.db.run_read(read, tenant)


def _collection(m: Any, documents_: int) -> Collection:
    return Collection(
        TenantId(m["tenant_id"]),
        m["id"],
        m["name"],
        m["description"] or "",
        CollectionSettings.from_mapping(m["settings"] or {}),
        aware(m["created_at"]),
        documents_,
    )


def _grant(m: Any) -> Grant:
    return Grant(
        TenantId(m["tenant_id"]),
        m["collection_id"],
        m["principal"],
        Level(m["level"]),
        aware(m["created_at"]),
    )


__all__ = ["SqlPermissions"]
