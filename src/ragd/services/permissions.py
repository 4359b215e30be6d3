"""Permissions: who may read and change which collection, and what a caller's rights are.

Every request turns its principal into an ``Access`` here (``access_for``), read fresh
from the database, so a changed grant, membership or key scope takes effect on the next
request. Tenant admins (and the unauthenticated local mode) read the whole tenant;
everyone else reads what grants give them and their groups; an API key limited to some
collections narrows whoever holds it, and one limited to a role acts as that role (the
lesser of it and its user's) and uses no grant above what the role may
(``access.level_cap``: a reader's key only reads). Platform admins get nothing inside a
tenant's data from their role: only what grants give them. Every grant change and every denial is
written to the audit log; denials are counted in ``ragd_access_denied_total{reason}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragd.domain.access import (
    DEFAULT_COLLECTION,
    Access,
    AccessFilter,
    Collection,
    CollectionSettings,
    Grant,
    Group,
    Level,
    check_principal,
    check_slug,
    level_cap,
    readers_of,
)
from ragd.domain.accounts import PLATFORM_TENANT, Principal, Role
from ragd.domain.models import Chunk, Document, IndexEntry, TenantId, Vector
from ragd.errors import Forbidden, InvalidRequest, NotFound
from ragd.observability import metrics
from ragd.ports import Embedder, Index, Store
from ragd.ports.access import Permissions
from ragd.ports.audit import Audit
from ragd.ports.index import VectorSource
from ragd.services.indexing import embedding_text


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log."""

    user_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None


class PermissionService:
    def __init__(
        self,
        permissions: Permissions,
        store: Store,
        index: Index,
        embedder: Embedder,
        audit: Audit,
        *,
        delete_document: Callable[[TenantId, str], None],
    ) -> None:
        self.permissions = permissions
        self.store = store
        self.index = index
        self.embedder = embedder
        self.audit = audit
        self._delete_document = delete_document

    # -- who may read what ---------------------------------------------------------
    def access_for(self, principal: Principal) -> Access:
        tenant = principal.tenant_id
        self.permissions.ensure_defaults(tenant)
        if principal.method == "none" or _tenant_admin(principal):
            access = Access(tenant, user_id=principal.user_id)
        else:
            principals, levels = self.permissions.resolve(tenant, principal.user_id)
            access = Access(tenant, levels, principals, principal.user_id)
        if principal.key_role is not None:
            access = access.capped(level_cap(principal.key_role))
        if principal.key_id is not None:
            scope = self.permissions.key_collections(tenant, principal.key_id)
            if scope is not None:
                access = dataclasses.replace(access.narrowed(scope), key_scope=scope)
        return access

    def require(
        self,
        access: Access,
        collection_id: str,
        needed: Level,
        *,
        actor: Actor | None = None,
        action: str = "collection.access",
    ) -> None:
        """``Forbidden`` (audited, counted) unless ``access`` holds ``needed`` there."""
        if access.can(collection_id, needed):
            return
        reason = "no_grant" if not access.can(collection_id, Level.READ) else "level"
        if access.key_scope is not None and collection_id not in access.key_scope:
            reason = "key_scope"
        self.denied(access, reason, f"collection:{collection_id}", actor, action=action)
        if reason != "level":
            raise NotFound(f"collection {collection_id!r} not found")  # no existence probe
        raise Forbidden(f"this needs {needed.value} on collection {collection_id!r}")

    def denied(
        self,
        access: Access,
        reason: str,
        resource: str,
        actor: Actor | None,
        *,
        action: str = "access.denied",
    ) -> None:
        metrics.ACCESS_DENIED.labels(reason).inc()
        actor = actor or Actor(access.user_id)
        self.audit.record(
            access.tenant_id,
            user_id=actor.user_id,
            action=action,
            resource=resource,
            outcome="denied",
            client_ip=actor.client_ip,
            request_id=actor.request_id,
            detail={"reason": reason},
        )

    def narrow(
        self, access: Access, collections: Sequence[str] | None, actor: Actor | None = None
    ) -> Access:
        """``access`` limited to the collections a request names; naming one it may not
        read is refused (audited) rather than silently searching nothing."""
        if not collections:
            return access
        for c in collections:
            check_slug(c, "collection")
            self.require(access, c, Level.READ, actor=actor, action="search.denied")
        return access.narrowed(collections)

    # -- collections ---------------------------------------------------------------
    def collections(self, access: Access) -> list[Collection]:
        self.permissions.ensure_defaults(access.tenant_id)
        found = self.permissions.list_collections(access.tenant_id)
        return [self._counted(access, c) for c in found if access.can(c.id)]

    def collection(self, access: Access, collection_id: str) -> Collection:
        self.require(access, collection_id, Level.READ)
        return self._counted(
            access, self.permissions.get_collection(access.tenant_id, collection_id)
        )

    def _counted(self, access: Access, collection: Collection) -> Collection:
        """Its document count as far as the caller may read (allow-listed documents it is
        not on are not counted either)."""
        flt = access.index_filter()
        if flt is None or flt.principals is None:
            return collection
        visible = AccessFilter((collection.id,), flt.principals)
        n = self.store.count_documents(access.tenant_id, visible=visible)
        return dataclasses.replace(collection, documents=n)

    def create_collection(
        self,
        access: Access,
        collection_id: str,
        name: str,
        description: str = "",
        settings: dict[str, object] | None = None,
        actor: Actor | None = None,
    ) -> Collection:
        self._admin(access, actor, "collection.create")
        check_slug(collection_id, "collection")
        self.permissions.ensure_defaults(access.tenant_id)
        made = self.permissions.create_collection(
            access.tenant_id,
            collection_id,
            _name(name),
            description,
            CollectionSettings.from_mapping(settings),
        )
        self._log(access, actor, "collection.create", f"collection:{collection_id}", {})
        return made

    def update_collection(
        self,
        access: Access,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        settings: dict[str, object] | None = None,
        actor: Actor | None = None,
    ) -> Collection:
        self.require(access, collection_id, Level.MANAGE, actor=actor)
        return self.permissions.update_collection(
            access.tenant_id,
            collection_id,
            name=None if name is None else _name(name),
            description=description,
            settings=None if settings is None else CollectionSettings.from_mapping(settings),
        )

    def delete_collection(
        self, access: Access, collection_id: str, actor: Actor | None = None
    ) -> int:
        """Everything in it (Store, index, cached answers through the index version,
        external indexes through the outbox), then the collection; returns how many
        documents went."""
        self.require(access, collection_id, Level.MANAGE, actor=actor)
        if collection_id == DEFAULT_COLLECTION:
            raise InvalidRequest("the default collection cannot be deleted")
        self.permissions.get_collection(access.tenant_id, collection_id)
        doc_ids = self.permissions.documents_in(access.tenant_id, collection_id)
        for doc_id in doc_ids:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                self._delete_document(access.tenant_id, doc_id)
        self.permissions.delete_collection(access.tenant_id, collection_id)
        self._log(
            access,
            actor,
            "collection.delete",
            f"collection:{collection_id}",
            {"documents": len(doc_ids)},
        )
        return len(doc_ids)

    def place_document(
        self,
        access: Access,
        document_id: str,
        *,
        collection_id: str | None = None,
        readers: Sequence[str] | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Move a document and/or change its allow-list: the Store row and its index
        entries change in one transaction, so no search sees it half-moved."""
        tenant = access.tenant_id
        doc = self.store.get_document(tenant, document_id)
        if not access.may_read_document(doc.collection_id, doc.readers):
            self.denied(access, "no_grant", f"document:{document_id}", actor)
            raise NotFound(f"document {document_id!r} not found")
        self.require(access, doc.collection_id, Level.WRITE, actor=actor)
        if collection_id is not None:
            check_slug(collection_id, "collection")
            self.require(access, collection_id, Level.WRITE, actor=actor)
            self.permissions.get_collection(tenant, collection_id)
        new_readers = None if readers is None else readers_of(readers)
        with self.store.transaction() as tx:
            # Locks the row, and only while no ingestion job is writing the document (one
            # would write its entries with the placement it read when it started).
            self.permissions.place_document(
                tx, tenant, document_id, collection_id=collection_id, readers=new_readers
            )
            chunks = self.store.list_chunks(tenant, document_id)
            vectors = self._vectors(tenant, doc, chunks)
            if vectors is not None:
                self.index.upsert_document(
                    tx,
                    tenant,
                    document_id,
                    [
                        IndexEntry(
                            c.id,
                            doc.id,
                            doc.source,
                            doc.title,
                            c.text,
                            vectors[i],
                            doc.metadata,
                            collection_id or doc.collection_id,
                            doc.readers if new_readers is None else new_readers,
                        )
                        for i, c in enumerate(chunks)
                    ],
                )
        self._log(
            access,
            actor,
            "document.place",
            f"document:{document_id}",
            {"collection": collection_id, "readers": list(new_readers or ())}
            if readers is not None
            else {"collection": collection_id},
        )

    def _vectors(self, tenant: TenantId, doc: Document, chunks: list[Chunk]) -> list[Vector] | None:
        if not chunks:
            return None
        if isinstance(self.index, VectorSource):
            stored = self.index.stored_vectors(tenant, [c.id for c in chunks])
            if len(stored) == len(chunks):
                return [stored[c.id] for c in chunks]
        return list(self.embedder.embed_documents([embedding_text(doc, c) for c in chunks]))

    # -- groups and grants (tenant admins) -----------------------------------------
    def groups(self, access: Access, actor: Actor | None = None) -> list[Group]:
        self._admin(access, actor, "group.list")
        return self.permissions.list_groups(access.tenant_id)

    def create_group(
        self, access: Access, group_id: str, name: str, actor: Actor | None = None
    ) -> Group:
        self._admin(access, actor, "group.create")
        check_slug(group_id, "group")
        group = self.permissions.create_group(access.tenant_id, group_id, _name(name))
        self._log(access, actor, "group.create", f"group:{group_id}", {})
        return group

    def delete_group(self, access: Access, group_id: str, actor: Actor | None = None) -> None:
        self._admin(access, actor, "group.delete")
        self.permissions.delete_group(access.tenant_id, group_id)
        self._log(access, actor, "group.delete", f"group:{group_id}", {})

    def set_member(
        self,
        access: Access,
        group_id: str,
        user_id: str,
        member: bool,
        actor: Actor | None = None,
    ) -> None:
        self._admin(access, actor, "group.member")
        self.permissions.set_member(access.tenant_id, group_id, user_id, member)
        self._log(
            access,
            actor,
            "group.member.add" if member else "group.member.remove",
            f"group:{group_id}",
            {"user_id": user_id},
        )

    def grants(self, access: Access, collection_id: str | None = None) -> list[Grant]:
        if collection_id is not None:
            self.require(access, collection_id, Level.MANAGE)
        elif not access.unrestricted:
            self.denied(access, "admin", "grants", None)
            raise Forbidden("listing every grant needs the tenant_admin role")
        return self.permissions.list_grants(access.tenant_id, collection_id)

    def set_grant(
        self,
        access: Access,
        collection_id: str,
        principal: str,
        level: str | None,
        actor: Actor | None = None,
    ) -> Grant | None:
        """Grant (or with ``level`` None revoke); managers of a collection and tenant
        admins may. Audited with the level before and after."""
        self.require(access, collection_id, Level.MANAGE, actor=actor, action="grant.change")
        check_principal(principal)
        try:
            new = None if level is None else Level(level)
        except ValueError:
            raise InvalidRequest("level must be read, write or manage") from None
        before = self.permissions.set_grant(access.tenant_id, collection_id, principal, new)
        self._log(
            access,
            actor,
            "grant.set" if new else "grant.revoke",
            f"collection:{collection_id}",
            {
                "principal": principal,
                "before": None if before is None else before.level.value,
                "after": None if new is None else new.value,
            },
        )
        return before

    def set_key_collections(
        self,
        access: Access,
        key_id: str,
        collections: Sequence[str] | None,
        actor: Actor | None = None,
    ) -> None:
        self._admin(access, actor, "key.scope")
        for c in collections or ():
            check_slug(c, "collection")
            self.permissions.get_collection(access.tenant_id, c)
        self.permissions.set_key_collections(access.tenant_id, key_id, collections)
        self._log(
            access,
            actor,
            "key.scope",
            f"key:{key_id}",
            {"collections": None if collections is None else sorted(collections)},
        )

    def _admin(self, access: Access, actor: Actor | None, action: str) -> None:
        if not access.unrestricted:
            self.denied(access, "admin", action, actor)
            raise Forbidden("this needs the tenant_admin role")

    def _log(
        self,
        access: Access,
        actor: Actor | None,
        action: str,
        resource: str,
        detail: dict[str, object],
    ) -> None:
        actor = actor or Actor(access.user_id)
        self.audit.record(
            access.tenant_id,
            user_id=actor.user_id,
            action=action,
            resource=resource,
            outcome="ok",
            client_ip=actor.client_ip,
            request_id=actor.request_id,
            detail=detail,
        )


def _tenant_admin(principal: Principal) -> bool:
    """Reads the whole tenant by role. A key limited to tenant_admin in the platform
    tenant is not: its user is (most likely) a platform admin, who reads there only what
    grants give, and limiting a key must never widen what it reads."""
    if principal.role != Role.TENANT_ADMIN:
        return False
    return principal.key_role is None or principal.tenant_id != PLATFORM_TENANT


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidRequest("a name must be 1-200 characters")
    return name
