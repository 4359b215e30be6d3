"""Managing tenants, users and keys: the use cases behind the admin API and CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from ragd.domain.accounts import (
    PLATFORM_TENANT,
    ApiKey,
    IssuedKey,
    Role,
    Status,
    Tenant,
    TenantLimits,
    User,
    role_allows,
)
from ragd.domain.models import TenantId, utcnow
from ragd.errors import Forbidden, InvalidRequest, NotFound
from ragd.ports.access import Permissions
from ragd.ports.accounts import Accounts
from ragd.services.auth import KeyHasher, new_key_material

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class NewTenant:
    tenant: Tenant
    admin: User
    key: IssuedKey


class AccountService:
    def __init__(
        self, accounts: Accounts, hasher: KeyHasher, permissions: Permissions | None = None
    ) -> None:
        self.accounts = accounts
        self.hasher = hasher
        self.permissions = permissions  # keys' collection limits (None: no permissions)

    def create_tenant(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        admin_name: str = "admin",
        admin_email: str | None = None,
        limits: TenantLimits | None = None,
        admin_role: Role = Role.TENANT_ADMIN,
    ) -> NewTenant:
        """A tenant with its first administrator and that administrator's first key."""
        if not _TENANT_ID.match(tenant_id):
            raise InvalidRequest(
                "tenant id must be 1-63 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit"
            )
        tenant = self.accounts.create_tenant(
            TenantId(tenant_id), name or tenant_id, limits or TenantLimits()
        )
        admin = self.accounts.create_user(tenant.id, admin_name, admin_email, admin_role)
        key = self.issue_key(tenant.id, admin.id, name="initial admin key")
        return NewTenant(tenant, admin, key)

    def ensure_platform_admin(self, name: str = "platform-admin") -> NewTenant:
        """The platform tenant and a platform admin with a new key (first set-up)."""
        try:
            self.accounts.get_tenant(PLATFORM_TENANT)
        except NotFound:
            return self.create_tenant(
                PLATFORM_TENANT,
                name="platform",
                admin_name=name,
                admin_role=Role.PLATFORM_ADMIN,
            )
        admin = self.accounts.create_user(PLATFORM_TENANT, name, None, Role.PLATFORM_ADMIN)
        key = self.issue_key(PLATFORM_TENANT, admin.id, name="platform admin key")
        return NewTenant(self.accounts.get_tenant(PLATFORM_TENANT), admin, key)

    def create_user(
        self, tenant: TenantId, name: str, email: str | None, role: Role, *, by: Role
    ) -> User:
        if role == Role.PLATFORM_ADMIN and by != Role.PLATFORM_ADMIN:
            raise InvalidRequest("only a platform admin can create platform admins")
        if role == Role.PLATFORM_ADMIN and tenant != PLATFORM_TENANT:
            raise InvalidRequest(f"platform admins belong to the {PLATFORM_TENANT!r} tenant")
        return self.accounts.create_user(tenant, name, email, role)

    def issue_key(
        self,
        tenant: TenantId,
        user_id: str,
        *,
        name: str = "api key",
        expires_in_days: int | None = None,
        role: Role | None = None,
        by: Role | None = None,
    ) -> IssuedKey:
        """A new key for ``user_id``, limited to ``role`` if given (see ``key_role``)."""
        role = self.key_role(tenant, user_id, role, by=by)
        plaintext, prefix, secret = new_key_material()
        expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        key = self.accounts.create_key(
            tenant,
            user_id,
            name=name,
            prefix=prefix,
            secret_hash=self.hasher.hash(secret),
            expires_at=expires,
            role=role,
        )
        return IssuedKey(key, plaintext)

    def key_role(
        self, tenant: TenantId, user_id: str, role: Role | None, *, by: Role | None = None
    ) -> Role | None:
        """The role limit to store on a key of ``user_id``, asked by a caller acting as
        ``by`` (None: the command line, no ceiling).

        A limit above the user's role is refused (it would promise what the key can never
        do); so is one above the caller's, and a caller acting with less than the user
        (a platform admin's key limited to tenant_admin) gets a key limited to the
        caller's role when it asks for none, so no key can mint a stronger one.
        """
        user = self.accounts.get_user(tenant, user_id)
        if role is not None and not role_allows(user.role, role):
            raise InvalidRequest(
                f"a key cannot be limited to {role.value}: its user is only {user.role.value}"
            )
        if by is not None:
            if role is not None and not role_allows(by, role):
                raise Forbidden(f"you act as {by.value}: you cannot give a key {role.value}")
            if role is None and not role_allows(by, user.role):
                role = by
        return role

    def set_key_role(
        self, tenant: TenantId, key_id: str, role: Role | None, *, by: Role | None = None
    ) -> tuple[ApiKey, ApiKey]:
        """Limit a key to ``role`` (None: lift the limit, up to the caller's role);
        returns the key before and after, for the audit log."""
        before = self.accounts.get_key(tenant, key_id)
        limit = self.key_role(tenant, before.user_id, role, by=by)
        return before, self.accounts.set_key_role(tenant, key_id, limit)

    def rotate_key(self, tenant: TenantId, key_id: str, *, by: Role | None = None) -> IssuedKey:
        """A new key for the same user, name, role limit and collection limit; the old one
        is revoked at once. (A rotated key that lost its collection limit would reach every
        collection its user may read.)"""
        old = next((k for k in self.accounts.list_keys(tenant) if k.id == key_id), None)
        if old is None:
            raise NotFound(f"key {key_id} not found")
        if old.revoked_at is not None:
            raise InvalidRequest(f"key {key_id} is already revoked")
        days = None
        if old.expires_at is not None:
            days = max(1, (old.expires_at - old.created_at).days)
        new = self.issue_key(
            tenant, old.user_id, name=old.name, expires_in_days=days, role=old.role, by=by
        )
        if self.permissions is not None:
            scope = self.permissions.key_collections(tenant, key_id)
            if scope is not None:
                self.permissions.set_key_collections(tenant, new.key.id, scope)
        self.accounts.revoke_key(tenant, key_id)
        return new

    def set_tenant_status(self, tenant: TenantId, status: Status) -> Tenant:
        if tenant == PLATFORM_TENANT and status != Status.ACTIVE:
            raise InvalidRequest("the platform tenant cannot be disabled")
        return self.accounts.set_tenant_status(tenant, status)
