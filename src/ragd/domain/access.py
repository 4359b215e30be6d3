"""Who may read what inside a tenant: collections, groups, grants and allow-lists.

A tenant's documents live in collections; a grant gives a *principal* a level on a
collection; a document may in addition carry an allow-list of principals. A caller's
effective rights are an ``Access``: the collections it may read and the principals it
acts as. Every search, answer, cache key and index query is computed from it, so two
callers with equal ``Access`` see exactly the same rows and callers with different rights
never share a cached answer (``Access.fingerprint``).

Principals are plain strings so that every backend can compare them inside its own query
(SQL ``IN``/``?|``, a Qdrant ``MatchAny``):

- ``u:<user id>``: one user;
- ``g:<group id>``: every member of a group;
- ``*``: every member of the tenant (the default collection's initial grant, so a tenant
  upgraded from before collections keeps reading what it read).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest

DEFAULT_COLLECTION = "default"
"""Every tenant's first collection: where documents go when no collection is named, and
where the documents stored before collections existed were migrated (revision 0010)."""

EVERYONE = "*"
"""The principal every member of a tenant acts as."""

MAX_READERS = 200
"""Principals one document's allow-list may name."""

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PRINCIPAL = re.compile(r"^(\*|u:[A-Za-z0-9_.@-]{1,64}|g:[a-z0-9][a-z0-9_-]{0,62})$")


class Level(StrEnum):
    """What a grant allows on a collection; each level includes the ones below it."""

    READ = "read"  # search, answer, list and read documents
    WRITE = "write"  # + upload, delete, move documents in
    MANAGE = "manage"  # + rename, settings, delete the collection


_RANK = {Level.READ: 0, Level.WRITE: 1, Level.MANAGE: 2}


def level_allows(have: Level, needed: Level) -> bool:
    return _RANK[have] >= _RANK[needed]


def level_cap(key_role: Role) -> Level:
    """The highest collection level an API key limited to ``key_role`` may use, whatever
    its user's grants say: a reader's key only reads, an editor's key may write but not
    manage (rename, delete a collection, change its grants)."""
    if key_role == Role.READER:
        return Level.READ
    if key_role == Role.EDITOR:
        return Level.WRITE
    return Level.MANAGE


def check_slug(value: str, what: str) -> str:
    """Collection and group ids: lower-case letters, digits, ``_`` and ``-`` (they are
    compared inside SQL settings and payload filters, so no separators)."""
    if not isinstance(value, str) or not _SLUG.match(value):
        raise InvalidRequest(
            f"{what} {value!r} must be 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def check_principal(value: str) -> str:
    if not isinstance(value, str) or not _PRINCIPAL.match(value):
        raise InvalidRequest(
            f"principal {value!r} must be 'u:<user id>', 'g:<group id>' or '*' (everyone)"
        )
    return value


def user_principal(user_id: str) -> str:
    return f"u:{user_id}"


def group_principal(group_id: str) -> str:
    return f"g:{group_id}"


def readers_of(values: Iterable[str] | None) -> tuple[str, ...]:
    """A document's allow-list, validated and in a canonical order (empty: no allow-list,
    everyone who may read the collection)."""
    if values is None:
        return ()
    if isinstance(values, str):
        raise InvalidRequest("readers must be a list of principals")
    out = sorted({check_principal(v) for v in values})
    if len(out) > MAX_READERS:
        raise InvalidRequest(f"a document's readers list names at most {MAX_READERS} principals")
    return tuple(out)


@dataclass(frozen=True)
class CollectionSettings:
    """Per-collection overrides; None keeps the service default."""

    chunk_size: int | None = None
    retrieval_mode: str | None = None

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> CollectionSettings:
        raw = dict(raw or {})
        unknown = set(raw) - {"chunk_size", "retrieval_mode"}
        if unknown:
            raise InvalidRequest(f"unknown collection setting(s): {', '.join(sorted(unknown))}")
        size = raw.get("chunk_size")
        if size is not None and (
            not isinstance(size, int) or isinstance(size, bool) or not 32 <= size <= 8192
        ):
            raise InvalidRequest("collection chunk_size must be an integer from 32 to 8192")
        mode = raw.get("retrieval_mode")
        if mode is not None and mode not in ("hybrid", "dense", "sparse"):
            raise InvalidRequest("collection retrieval_mode must be hybrid, dense or sparse")
        return cls(chunk_size=size, retrieval_mode=mode)

    def as_dict(self) -> dict[str, Any]:
        pairs = (("chunk_size", self.chunk_size), ("retrieval_mode", self.retrieval_mode))
        return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True)
class Collection:
    tenant_id: TenantId
    id: str
    name: str
    description: str
    settings: CollectionSettings
    created_at: datetime
    documents: int = 0


@dataclass(frozen=True)
class Group:
    tenant_id: TenantId
    id: str
    name: str
    members: tuple[str, ...]
    """User ids."""
    created_at: datetime


@dataclass(frozen=True)
class Grant:
    tenant_id: TenantId
    collection_id: str
    principal: str
    level: Level
    created_at: datetime


@dataclass(frozen=True)
class AccessFilter:
    """The permission condition an Index applies inside its query: a chunk passes when its
    collection is one of ``collections`` and, unless ``principals`` is None (a tenant
    admin narrowed to some collections), its document either has no allow-list or shares
    a principal with ``principals``."""

    collections: tuple[str, ...]
    principals: tuple[str, ...] | None


@dataclass(frozen=True)
class Access:
    """A caller's effective read rights inside one tenant.

    ``collections`` None means every collection and no allow-list check (tenant admins,
    the CLI and internal work); otherwise the readable collections, each with the level
    held. ``principals`` are what the caller acts as (``u:``, its groups, ``*``);
    ``all_documents`` skips allow-lists (an admin's key scoped to some collections).
    """

    tenant_id: TenantId
    collections: dict[str, Level] | None = None
    principals: tuple[str, ...] = ()
    user_id: str | None = None
    all_documents: bool = False
    key_scope: tuple[str, ...] | None = None
    """The collections the caller's API key is limited to (None: not limited); only
    says why a refusal happened (``ragd_access_denied_total{reason="key_scope"}``)."""

    @property
    def unrestricted(self) -> bool:
        return self.collections is None

    def can(self, collection_id: str, needed: Level = Level.READ) -> bool:
        if self.collections is None:
            return True
        have = self.collections.get(collection_id)
        return have is not None and level_allows(have, needed)

    def readable(self) -> tuple[str, ...] | None:
        return None if self.collections is None else tuple(sorted(self.collections))

    def may_read_document(self, collection_id: str, readers: tuple[str, ...]) -> bool:
        if self.collections is None:
            return True
        if collection_id not in self.collections:
            return False
        return self.all_documents or not readers or bool(set(readers) & set(self.principals))

    def narrowed(self, collections: Iterable[str] | None) -> Access:
        """The same caller limited to ``collections`` (an API key's scope, a request's
        ``collection`` field); None leaves it as it is. Narrowing never adds a right."""
        if collections is None:
            return self
        wanted = sorted(set(collections))
        if self.collections is None:
            return Access(
                self.tenant_id,
                dict.fromkeys(wanted, Level.MANAGE),
                self.principals,
                self.user_id,
                all_documents=True,
                key_scope=self.key_scope,
            )
        return Access(
            self.tenant_id,
            {c: lv for c, lv in self.collections.items() if c in wanted},
            self.principals,
            self.user_id,
            all_documents=self.all_documents,
            key_scope=self.key_scope,
        )

    def capped(self, most: Level) -> Access:
        """The same reads, with no level above ``most`` (an API key limited to a role).
        Only restricted callers are capped: a key limited below tenant_admin never gets
        the unrestricted access that role gives (``PermissionService.access_for``)."""
        if most == Level.MANAGE or self.collections is None:
            return self
        levels = {c: (most if level_allows(lv, most) else lv) for c, lv in self.collections.items()}
        return Access(
            self.tenant_id,
            levels,
            self.principals,
            self.user_id,
            all_documents=self.all_documents,
            key_scope=self.key_scope,
        )

    def index_filter(self) -> AccessFilter | None:
        """What the Index must check (None: nothing to check)."""
        if self.collections is None:
            return None
        principals = None if self.all_documents else tuple(sorted(self.principals))
        return AccessFilter(tuple(sorted(self.collections)), principals)

    def fingerprint(self) -> str:
        """Equal for callers who may read exactly the same rows: the answer cache and the
        query log key on it, so an answer built from rows one caller may read never
        reaches a caller with fewer rights."""
        flt = self.index_filter()
        if flt is None:
            return "all"
        who = "*all*" if flt.principals is None else ",".join(flt.principals)
        raw = f"{','.join(flt.collections)}|{who}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class AccessChange:
    """An audit-worthy change of rights (every grant change is logged)."""

    action: str
    resource: str
    detail: dict[str, Any] = field(default_factory=dict)
