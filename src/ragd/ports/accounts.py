"""Accounts port: tenants, users and API keys (the Store's identity tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ragd.domain.accounts import ApiKey, Role, Status, StoredKey, Tenant, TenantLimits, User
from ragd.domain.models import TenantId


class Accounts(Protocol):
    """Scoped to a tenant like every port, with two deliberate exceptions that are only
    for the authenticator and platform admins: ``find_key`` (a key is looked up by its
    public prefix before its tenant is known) and ``list_tenants``."""

    def create_tenant(self, tenant: TenantId, name: str, limits: TenantLimits) -> Tenant:
        """``InvalidRequest`` if it exists."""
        ...

    def get_tenant(self, tenant: TenantId) -> Tenant: ...

    def list_tenants(self) -> list[Tenant]: ...

    def set_tenant_status(self, tenant: TenantId, status: Status) -> Tenant: ...

    def set_tenant_limits(self, tenant: TenantId, limits: TenantLimits) -> Tenant: ...

    def delete_tenant(self, tenant: TenantId) -> None:
        """The tenant row and its users and keys (documents go through the Store)."""
        ...

    def create_user(self, tenant: TenantId, name: str, email: str | None, role: Role) -> User: ...

    def get_user(self, tenant: TenantId, user_id: str) -> User: ...

    def list_users(self, tenant: TenantId) -> list[User]: ...

    def set_user_status(self, tenant: TenantId, user_id: str, status: Status) -> User: ...

    def delete_user(self, tenant: TenantId, user_id: str) -> int:
        """The user and their keys; returns how many keys went with them."""
        ...

    def create_key(
        self,
        tenant: TenantId,
        user_id: str,
        *,
        name: str,
        prefix: str,
        secret_hash: str,
        expires_at: datetime | None,
        role: Role | None = None,
    ) -> ApiKey: ...

    def get_key(self, tenant: TenantId, key_id: str) -> ApiKey:
        """``NotFound`` unless the tenant has it."""
        ...

    def set_key_role(self, tenant: TenantId, key_id: str, role: Role | None) -> ApiKey:
        """Limit a key to a role (None: lift the limit); ``NotFound`` for another's key."""
        ...

    def find_key(self, prefix: str) -> StoredKey | None: ...

    def list_keys(self, tenant: TenantId, user_id: str | None = None) -> list[ApiKey]: ...

    def revoke_key(self, tenant: TenantId, key_id: str) -> ApiKey: ...

    def touch_key(self, tenant: TenantId, key_id: str, when: datetime) -> None:
        """Record last use (best effort, may be throttled by the caller)."""
        ...
