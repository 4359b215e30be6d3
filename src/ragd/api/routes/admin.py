"""``/admin``: tenants (platform admins), users and keys, audit log, GDPR (tenant admins).

A tenant admin acts on their own tenant. A platform admin may name another tenant with
``?tenant_id=`` on the user, key, audit and GDPR routes. Every call is audited; keys are
shown in plaintext exactly once, in the response that creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ragd.api.deps import PlatformAdmin, ServicesDep, TenantAdmin, audit
from ragd.domain.accounts import ApiKey, Principal, Role, Status, Tenant, TenantLimits, User
from ragd.domain.models import TenantId
from ragd.errors import Forbidden
from ragd.services.quotas import month_start

router = APIRouter(prefix="/admin", tags=["admin"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


BIG = 2**62  # fits the BIGINT columns with room; nobody's quota is larger


class LimitsIn(Strict):
    rate_limit_rpm: int | None = Field(None, ge=0, le=1_000_000)
    max_documents: int | None = Field(None, ge=0, le=BIG)
    max_bytes: int | None = Field(None, ge=0, le=BIG)
    max_llm_tokens_month: int | None = Field(None, ge=0, le=BIG)


class TenantIn(Strict):
    id: str = Field(min_length=1, max_length=63)
    name: str | None = Field(None, max_length=200)
    admin_name: str = Field("admin", min_length=1, max_length=200)
    admin_email: str | None = Field(None, max_length=320)
    limits: LimitsIn = Field(default_factory=LimitsIn)


class TenantOut(BaseModel):
    id: str
    name: str
    status: Status
    created_at: datetime
    limits: LimitsIn

    @classmethod
    def of(cls, t: Tenant) -> TenantOut:
        return cls(
            id=t.id,
            name=t.name,
            status=t.status,
            created_at=t.created_at,
            limits=LimitsIn(**t.limits.__dict__),
        )


class UserIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320)
    role: Role = Role.READER


class UserOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    email: str | None
    role: Role
    status: Status
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(**u.__dict__)


class KeyIn(Strict):
    user_id: str | None = Field(None, description="Default: the caller")
    name: str = Field("api key", min_length=1, max_length=200)
    expires_in_days: int | None = Field(None, ge=1, le=3650)
    role: Role | None = Field(
        None,
        description="Limit the key to this role (at most its user's); a request with the key "
        "acts with the lesser of it and the user's role at the time",
    )


class KeyOut(BaseModel):
    id: str
    tenant_id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    role: Role | None = Field(None, description="The role the key is limited to (null: none)")

    @classmethod
    def of(cls, k: ApiKey) -> KeyOut:
        return cls(**k.__dict__)


class IssuedKeyOut(KeyOut):
    key: str = Field(description="The secret: shown only in this response")


class NewTenantOut(BaseModel):
    tenant: TenantOut
    admin: UserOut
    key: IssuedKeyOut


class AnonymizeIn(Strict):
    user_id: str | None = None


TenantParam = Annotated[
    str | None,
    Query(
        max_length=63,
        description="Platform admins: act on this tenant (on /admin/audit, `_unknown` holds "
        "the failed authentications that named no tenant)",
    ),
]


def _target(principal: Principal, tenant_id: str | None) -> TenantId:
    if tenant_id is None or tenant_id == principal.tenant_id:
        return principal.tenant_id
    if principal.role != Role.PLATFORM_ADMIN:
        raise Forbidden("only platform admins may act on another tenant")
    return TenantId(tenant_id)


def _issued(k: Any) -> IssuedKeyOut:
    return IssuedKeyOut(**KeyOut.of(k.key).model_dump(), key=k.plaintext)


# -- tenants (platform admins) -------------------------------------------------------
@router.post("/tenants", status_code=201, response_model=NewTenantOut)
def create_tenant(
    body: TenantIn, request: Request, services: ServicesDep, principal: PlatformAdmin
) -> NewTenantOut:
    created = services.account_admin.create_tenant(
        body.id,
        name=body.name,
        admin_name=body.admin_name,
        admin_email=body.admin_email,
        limits=TenantLimits(**body.limits.model_dump()),
    )
    audit(request, services, principal, "tenant.create", body.id)
    return NewTenantOut(
        tenant=TenantOut.of(created.tenant),
        admin=UserOut.of(created.admin),
        key=_issued(created.key),
    )


@router.get("/tenants", response_model=list[TenantOut])
def list_tenants(services: ServicesDep, _principal: PlatformAdmin) -> list[TenantOut]:
    return [TenantOut.of(t) for t in services.accounts.list_tenants()]


@router.post("/tenants/{tenant_id}/disable", response_model=TenantOut)
def disable_tenant(
    tenant_id: str, request: Request, services: ServicesDep, principal: PlatformAdmin
) -> TenantOut:
    t = services.account_admin.set_tenant_status(TenantId(tenant_id), Status.DISABLED)
    audit(request, services, principal, "tenant.disable", tenant_id)
    return TenantOut.of(t)


@router.post("/tenants/{tenant_id}/enable", response_model=TenantOut)
def enable_tenant(
    tenant_id: str, request: Request, services: ServicesDep, principal: PlatformAdmin
) -> TenantOut:
    t = services.account_admin.set_tenant_status(TenantId(tenant_id), Status.ACTIVE)
    audit(request, services, principal, "tenant.enable", tenant_id)
    return TenantOut.of(t)


@router.put("/tenants/{tenant_id}/limits", response_model=TenantOut)
def set_limits(
    tenant_id: str,
    body: LimitsIn,
    request: Request,
    services: ServicesDep,
    principal: PlatformAdmin,
) -> TenantOut:
    t = services.accounts.set_tenant_limits(TenantId(tenant_id), TenantLimits(**body.model_dump()))
    audit(request, services, principal, "tenant.limits", tenant_id, detail=body.model_dump())
    return TenantOut.of(t)


@router.delete("/tenants/{tenant_id}", summary="Erase a tenant and everything it holds")
def erase_tenant(
    tenant_id: str, request: Request, services: ServicesDep, principal: PlatformAdmin
) -> dict[str, Any]:
    if tenant_id == principal.tenant_id:
        raise Forbidden("a platform admin cannot erase their own tenant")
    report = services.gdpr.erase_tenant(TenantId(tenant_id))
    audit(request, services, principal, "tenant.erase", tenant_id, detail=report)
    return report


# -- users ---------------------------------------------------------------------------
@router.post("/users", status_code=201, response_model=UserOut)
def create_user(
    body: UserIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> UserOut:
    tenant = _target(principal, tenant_id)
    user = services.account_admin.create_user(
        tenant, body.name, body.email, body.role, by=principal.role
    )
    audit(request, services, principal, "user.create", user.id, detail={"role": body.role})
    return UserOut.of(user)


@router.get("/users", response_model=list[UserOut])
def list_users(
    services: ServicesDep, principal: TenantAdmin, tenant_id: TenantParam = None
) -> list[UserOut]:
    return [UserOut.of(u) for u in services.accounts.list_users(_target(principal, tenant_id))]


@router.post("/users/{user_id}/disable", response_model=UserOut)
def disable_user(
    user_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> UserOut:
    user = services.accounts.set_user_status(
        _target(principal, tenant_id), user_id, Status.DISABLED
    )
    audit(request, services, principal, "user.disable", user_id)
    return UserOut.of(user)


@router.delete(
    "/users/{user_id}",
    summary="Erase a user: account, keys, questions, conversations, answers, feedback",
)
def erase_user(
    user_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> dict[str, Any]:
    report = services.gdpr.erase_user(_target(principal, tenant_id), user_id)
    audit(request, services, principal, "user.erase", report["alias"], detail=report)
    return report


# -- keys ----------------------------------------------------------------------------
@router.post("/keys", status_code=201, response_model=IssuedKeyOut)
def create_key(
    body: KeyIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> IssuedKeyOut:
    tenant = _target(principal, tenant_id)
    user_id = body.user_id or principal.user_id
    issued = services.account_admin.issue_key(
        tenant,
        user_id,
        name=body.name,
        expires_in_days=body.expires_in_days,
        role=body.role,
        by=principal.role,
    )
    role = issued.key.role
    detail = {"user": user_id, "role": None if role is None else role.value}
    audit(request, services, principal, "key.create", issued.key.id, detail=detail)
    return _issued(issued)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(
    services: ServicesDep, principal: TenantAdmin, tenant_id: TenantParam = None
) -> list[KeyOut]:
    return [KeyOut.of(k) for k in services.accounts.list_keys(_target(principal, tenant_id))]


@router.post("/keys/{key_id}/rotate", status_code=201, response_model=IssuedKeyOut)
def rotate_key(
    key_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> IssuedKeyOut:
    issued = services.account_admin.rotate_key(
        _target(principal, tenant_id), key_id, by=principal.role
    )
    audit(request, services, principal, "key.rotate", key_id, detail={"new": issued.key.id})
    return _issued(issued)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(
    key_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> Response:
    services.accounts.revoke_key(_target(principal, tenant_id), key_id)
    audit(request, services, principal, "key.revoke", key_id)
    return Response(status_code=204)


# -- audit and GDPR ------------------------------------------------------------------
@router.get("/audit")
def audit_log(
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    entries = services.audit.entries(
        _target(principal, tenant_id), action=action, user_id=user_id, limit=limit, offset=offset
    )
    return {
        "entries": [{**e.__dict__, "created_at": e.created_at.isoformat()} for e in entries],
        "limit": limit,
        "offset": offset,
    }


@router.post("/anonymize", summary="Scrub question texts from the stored query log")
def anonymize(
    body: AnonymizeIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> dict[str, int]:
    report = services.gdpr.anonymize(_target(principal, tenant_id), body.user_id)
    audit(request, services, principal, "gdpr.anonymize", body.user_id, detail=report)
    return report


@router.get("/export/{user_id}", summary="Everything held about a user, as JSON")
def export_user(
    user_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    tenant_id: TenantParam = None,
) -> dict[str, Any]:
    data = services.gdpr.export_user(_target(principal, tenant_id), user_id)
    audit(request, services, principal, "gdpr.export", user_id)
    return data


# -- usage across tenants (platform admins) -------------------------------------------
@router.get("/usage", summary="LLM tokens and cost of every tenant since a date")
def usage_all_tenants(
    services: ServicesDep,
    principal: PlatformAdmin,
    since: Annotated[datetime | None, Query(description="Default: start of this month")] = None,
) -> dict[str, Any]:
    start = since or month_start()
    known = [(t.id, t.name, t.status.value) for t in services.accounts.list_tenants()]
    if principal.tenant_id not in {k[0] for k in known}:  # the embedded default tenant
        known.insert(0, (principal.tenant_id, principal.tenant_id, Status.ACTIVE.value))
    tenants = []
    for tenant_id, name, status in known:
        rows = services.audit.usage(tenant_id, since=start)
        tenants.append(
            {
                "tenant_id": tenant_id,
                "name": name,
                "status": status,
                "models": rows,
                "requests": sum(r["requests"] for r in rows),
                "total_tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows),
                "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
            }
        )
    return {
        "since": start.isoformat(),
        "tenants": tenants,
        "total_tokens": sum(t["total_tokens"] for t in tenants),
        "cost_usd": round(sum(t["cost_usd"] for t in tenants), 6),
    }
