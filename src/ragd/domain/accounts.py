"""Who is asking: tenants, users, API keys, roles, and the principal of a request.

Roles are ordered: each includes the rights of those below it. A principal always acts
inside exactly one tenant; a platform admin additionally manages tenants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from ragd.domain.models import TenantId


class Role(StrEnum):
    READER = "reader"  # search, query, read documents
    EDITOR = "editor"  # + ingest, delete, retry
    TENANT_ADMIN = "tenant_admin"  # + users, keys, audit log, export, erase within the tenant
    PLATFORM_ADMIN = "platform_admin"  # + tenants


PLATFORM_TENANT = TenantId("platform")
"""Where platform administrators live; it holds no documents of its own by convention."""

_RANK = {Role.READER: 0, Role.EDITOR: 1, Role.TENANT_ADMIN: 2, Role.PLATFORM_ADMIN: 3}


def role_allows(role: Role, needed: Role) -> bool:
    return _RANK[role] >= _RANK[needed]


def lesser_role(a: Role, b: Role) -> Role:
    return a if _RANK[a] <= _RANK[b] else b


def effective_role(user_role: Role, key_role: Role | None) -> Role:
    """What a request made with a key acts as: never more than the user is now."""
    return user_role if key_role is None else lesser_role(user_role, key_role)


class Status(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class TenantLimits:
    """Per-tenant overrides; None means the service default (settings)."""

    rate_limit_rpm: int | None = None
    max_documents: int | None = None
    max_bytes: int | None = None
    max_llm_tokens_month: int | None = None


@dataclass(frozen=True)
class Tenant:
    id: TenantId
    name: str
    status: Status
    created_at: datetime
    limits: TenantLimits = field(default_factory=TenantLimits)


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: TenantId
    name: str
    email: str | None
    role: Role
    status: Status
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """A key's public record. The secret is shown once at creation and stored only as a
    password hash; ``prefix`` (public, unique) finds the record to verify against."""

    id: str
    tenant_id: TenantId
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    role: Role | None = None
    """The most this key may do (None: whatever its user may). A request with the key acts
    with the lesser of this and the user's role *at the time of the request*, so lowering
    the user lowers the key too."""


@dataclass(frozen=True)
class StoredKey:
    key: ApiKey
    secret_hash: str


@dataclass(frozen=True)
class IssuedKey:
    """The only time the plaintext exists outside the caller's hands."""

    key: ApiKey
    plaintext: str


AuthMethod = Literal["api_key", "jwt", "none"]


@dataclass(frozen=True)
class Principal:
    tenant_id: TenantId
    user_id: str
    role: Role
    method: AuthMethod
    key_id: str | None = None
    key_role: Role | None = None
    """The role the request's API key is limited to (``role`` is already the lesser of it
    and the user's); permissions also cap collection grants by it (``access.level_cap``)."""

    def can(self, needed: Role) -> bool:
        return role_allows(self.role, needed)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    tenant_id: TenantId
    user_id: str | None
    action: str
    resource: str | None
    outcome: str
    client_ip: str | None
    request_id: str | None
    created_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryRecord:
    """A question someone asked: personal data, kept for support and usage, scrubbed by
    ``/admin/anonymize`` and erased with its user."""

    id: int
    tenant_id: TenantId
    user_id: str | None
    request_id: str | None
    kind: str
    text: str
    created_at: datetime
