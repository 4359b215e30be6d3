"""Accounts port on SQL: tenants (with their limits), users, API keys.

Row-level security (Postgres): every transaction is scoped to the tenant it is about (a
tenant's own ``tenants`` row included, so creating, reading and deleting a tenant need no
bypass). The port's two deliberate exceptions run in the system scope: ``find_key`` (the
authenticator looks a key up by its prefix before it knows the tenant) and
``list_tenants`` (platform admins).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ragd.adapters.sql.accounts_schema import api_keys, users
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import SYSTEM
from ragd.adapters.sql.schema import tenants
from ragd.domain.accounts import (
    ApiKey,
    Role,
    Status,
    StoredKey,
    Tenant,
    TenantLimits,
    User,
)
from ragd.domain.models import TenantId, utcnow
from ragd.errors import InvalidRequest, NotFound


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _tenant(row: Row[Any]) -> Tenant:
    m = row._mapping
    return Tenant(
        id=TenantId(m["id"]),
        name=m["name"],
        status=Status(m["status"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        limits=TenantLimits(
            rate_limit_rpm=m["rate_limit_rpm"],
            max_documents=m["max_documents"],
            max_bytes=m["max_bytes"],
            max_llm_tokens_month=m["max_llm_tokens_month"],
        ),
    )


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        name=m["name"],
        email=m["email"],
        role=Role(m["role"]),
        status=Status(m["status"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
    )


def _key(row: Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        name=m["name"],
        prefix=m["prefix"],
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        expires_at=_aware(m["expires_at"]),
        revoked_at=_aware(m["revoked_at"]),
        last_used_at=_aware(m["last_used_at"]),
        role=None if m["role"] is None else Role(m["role"]),
    )


_KEY_COLS = [c for c in api_keys.c if c.name != "secret_hash"]


class SqlAccounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tenants -----------------------------------------------------------------
    def create_tenant(self, tenant: TenantId, name: str, limits: TenantLimits) -> Tenant:
        try:
            with self.db.write(tenant) as conn:
                conn.execute(
                    insert(tenants).values(
                        id=tenant,
                        name=name,
                        status=Status.ACTIVE.value,
                        created_at=utcnow(),
                        **_limits(limits),
                    )
                )
        except IntegrityError:
            raise InvalidRequest(f"tenant {tenant!r} already exists") from None
        return self.get_tenant(tenant)

    def get_tenant(self, tenant: TenantId) -> Tenant:
        with self.db.read(tenant) as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant)).first()
        if row is None:
            raise NotFound(f"tenant {tenant} not found")
        return _tenant(row)

    def list_tenants(self) -> list[Tenant]:
        with self.db.read(SYSTEM) as conn:  # every tenant: platform admins only
            rows = conn.execute(select(tenants).order_by(tenants.c.created_at)).all()
        return [_tenant(r) for r in rows]

    def set_tenant_status(self, tenant: TenantId, status: Status) -> Tenant:
        self._update_tenant(tenant, status=status.value)
        return self.get_tenant(tenant)

    def set_tenant_limits(self, tenant: TenantId, limits: TenantLimits) -> Tenant:
        self._update_tenant(tenant, **_limits(limits))
        return self.get_tenant(tenant)

    def _update_tenant(self, tenant: TenantId, **values: Any) -> None:
        with self.db.write(tenant) as conn:
            n = conn.execute(update(tenants).where(tenants.c.id == tenant).values(**values))
        if n.rowcount == 0:
            raise NotFound(f"tenant {tenant} not found")

    def delete_tenant(self, tenant: TenantId) -> None:
        with self.db.write(tenant) as conn:
            conn.execute(delete(api_keys).where(api_keys.c.tenant_id == tenant))
            conn.execute(delete(users).where(users.c.tenant_id == tenant))
            conn.execute(delete(tenants).where(tenants.c.id == tenant))

    # -- users -------------------------------------------------------------------
    def create_user(self, tenant: TenantId, name: str, email: str | None, role: Role) -> User:
        self.get_tenant(tenant)
        user_id = str(uuid.uuid4())
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(users).values(
                    id=user_id,
                    tenant_id=tenant,
                    name=name,
                    email=email,
                    role=role.value,
                    status=Status.ACTIVE.value,
                    created_at=utcnow(),
                )
            )
        return self.get_user(tenant, user_id)

    def get_user(self, tenant: TenantId, user_id: str) -> User:
        with self.db.read(tenant) as conn:
            row = conn.execute(
                select(users).where(users.c.tenant_id == tenant, users.c.id == user_id)
            ).first()
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return _user(row)

    def list_users(self, tenant: TenantId) -> list[User]:
        with self.db.read(tenant) as conn:
            rows = conn.execute(
                select(users).where(users.c.tenant_id == tenant).order_by(users.c.created_at)
            ).all()
        return [_user(r) for r in rows]

    def set_user_status(self, tenant: TenantId, user_id: str, status: Status) -> User:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(users)
                .where(users.c.tenant_id == tenant, users.c.id == user_id)
                .values(status=status.value)
            )
        if n.rowcount == 0:
            raise NotFound(f"user {user_id} not found")
        return self.get_user(tenant, user_id)

    def delete_user(self, tenant: TenantId, user_id: str) -> int:
        with self.db.write(tenant) as conn:
            keys = conn.execute(
                delete(api_keys).where(
                    api_keys.c.tenant_id == tenant, api_keys.c.user_id == user_id
                )
            ).rowcount
            n = conn.execute(
                delete(users).where(users.c.tenant_id == tenant, users.c.id == user_id)
            ).rowcount
        if n == 0:
            raise NotFound(f"user {user_id} not found")
        return int(keys)

    # -- keys --------------------------------------------------------------------
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
    ) -> ApiKey:
        self.get_user(tenant, user_id)
        key_id = str(uuid.uuid4())
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    tenant_id=tenant,
                    user_id=user_id,
                    name=name,
                    prefix=prefix,
                    secret_hash=secret_hash,
                    created_at=utcnow(),
                    expires_at=expires_at,
                    role=None if role is None else role.value,
                )
            )
        return self._get_key(tenant, key_id)

    def _get_key(self, tenant: TenantId, key_id: str) -> ApiKey:
        with self.db.read(tenant) as conn:
            row = conn.execute(
                select(*_KEY_COLS).where(api_keys.c.tenant_id == tenant, api_keys.c.id == key_id)
            ).first()
        if row is None:
            raise NotFound(f"key {key_id} not found")
        return _key(row)

    def find_key(self, prefix: str) -> StoredKey | None:
        with self.db.read(SYSTEM) as conn:  # the key's tenant is what this finds out
            row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        if row is None:
            return None
        return StoredKey(_key(row), row._mapping["secret_hash"])

    def list_keys(self, tenant: TenantId, user_id: str | None = None) -> list[ApiKey]:
        q = select(*_KEY_COLS).where(api_keys.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(api_keys.c.user_id == user_id)
        with self.db.read(tenant) as conn:
            rows = conn.execute(q.order_by(api_keys.c.created_at)).all()
        return [_key(r) for r in rows]

    def revoke_key(self, tenant: TenantId, key_id: str) -> ApiKey:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(api_keys)
                .where(api_keys.c.tenant_id == tenant, api_keys.c.id == key_id)
                .values(revoked_at=func.coalesce(api_keys.c.revoked_at, utcnow()))
            )
        if n.rowcount == 0:
            raise NotFound(f"key {key_id} not found")
        return self._get_key(tenant, key_id)

    def set_key_role(self, tenant: TenantId, key_id: str, role: Role | None) -> ApiKey:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(api_keys)
                .where(api_keys.c.tenant_id == tenant, api_keys.c.id == key_id)
                .values(role=None if role is None else role.value)
            )
        if n.rowcount == 0:
            raise NotFound(f"key {key_id} not found")
        return self._get_key(tenant, key_id)

    def get_key(self, tenant: TenantId, key_id: str) -> ApiKey:
        return self._get_key(tenant, key_id)

    def touch_key(self, tenant: TenantId, key_id: str, when: datetime) -> None:
        with self.db.write(tenant) as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.tenant_id == tenant, api_keys.c.id == key_id)
                .values(last_used_at=when)
            )


def _limits(limits: TenantLimits) -> dict[str, int | None]:
    return {
        "rate_limit_rpm": limits.rate_limit_rpm,
        "max_documents": limits.max_documents,
        "max_bytes": limits.max_bytes,
        "max_llm_tokens_month": limits.max_llm_tokens_month,
    }
