"""Permissions port: collections, groups, grants, API-key scopes, documents' placement.

Tenant-scoped like every port. ``resolve`` is what every request asks: the caller's
principals and the collections they may read, read fresh each time so that a changed
grant takes effect on the next request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ragd.domain.access import Collection, CollectionSettings, Grant, Group, Level
from ragd.domain.models import TenantId
from ragd.ports.store import Transaction


class Permissions(Protocol):
    def ensure_defaults(self, tenant: TenantId) -> None:
        """The tenant's ``default`` collection and its everyone-may-write grant, unless
        the tenant already has collections (a new tenant; idempotent)."""
        ...

    # collections -------------------------------------------------------------
    def list_collections(self, tenant: TenantId) -> list[Collection]: ...

    def get_collection(self, tenant: TenantId, collection_id: str) -> Collection:
        """``NotFound`` if absent."""
        ...

    def create_collection(
        self,
        tenant: TenantId,
        collection_id: str,
        name: str,
        description: str,
        settings: CollectionSettings,
    ) -> Collection:
        """``InvalidRequest`` if the id is taken."""
        ...

    def update_collection(
        self,
        tenant: TenantId,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        settings: CollectionSettings | None = None,
    ) -> Collection: ...

    def delete_collection(self, tenant: TenantId, collection_id: str) -> None:
        """The collection row, its grants and key scopes (its documents are deleted first
        by the service, through the Store and the Index)."""
        ...

    def documents_in(self, tenant: TenantId, collection_id: str) -> list[str]:
        """Ids of the collection's documents."""
        ...

    def place_document(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        *,
        collection_id: str | None = None,
        readers: Sequence[str] | None = None,
    ) -> None:
        """Move a document to another collection and/or replace its allow-list (``()``:
        none), inside the caller's transaction (which also rewrites its index entries).
        Only an indexed or failed document: ``DocumentBusy`` while it is queued or being
        indexed (the job would write entries with the placement it started with)."""
        ...

    # groups --------------------------------------------------------------------
    def list_groups(self, tenant: TenantId) -> list[Group]: ...

    def create_group(self, tenant: TenantId, group_id: str, name: str) -> Group: ...

    def delete_group(self, tenant: TenantId, group_id: str) -> None:
        """The group, its memberships and its grants."""
        ...

    def set_member(self, tenant: TenantId, group_id: str, user_id: str, member: bool) -> None: ...

    # grants --------------------------------------------------------------------
    def list_grants(self, tenant: TenantId, collection_id: str | None = None) -> list[Grant]: ...

    def set_grant(
        self, tenant: TenantId, collection_id: str, principal: str, level: Level | None
    ) -> Grant | None:
        """Give ``principal`` ``level`` on the collection (None: revoke). Returns the
        grant as it was before (None: there was none)."""
        ...

    # keys ----------------------------------------------------------------------
    def key_collections(self, tenant: TenantId, key_id: str) -> tuple[str, ...] | None:
        """The collections a key is limited to; None when it is not limited."""
        ...

    def set_key_collections(
        self, tenant: TenantId, key_id: str, collections: Sequence[str] | None
    ) -> None: ...

    # resolution ----------------------------------------------------------------
    def resolve(self, tenant: TenantId, user_id: str) -> tuple[tuple[str, ...], dict[str, Level]]:
        """The user's principals (``u:``, its groups, ``*``) and the best level each
        collection grants any of them."""
        ...
