"""``/api/v1/collections``, ``/api/v1/groups``, ``/api/v1/keys/{id}/collections`` and
``/api/v1/keys/{id}/role``.

Collections are listed as far as the caller may read them; creating one, groups and key
scopes (collections, role) are for tenant admins; a collection's settings, grants and
deletion for its managers (and tenant admins). Every grant change and every refusal is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ragd.api.access import access_of, actor_of
from ragd.api.access_schemas import (
    CollectionIn,
    CollectionOut,
    CollectionPatch,
    GrantIn,
    GrantOut,
    GroupIn,
    GroupOut,
    KeyRoleIn,
    KeyScopeIn,
)
from ragd.api.deps import Reader, ServicesDep, TenantAdmin, audit
from ragd.api.problems import ProblemError
from ragd.services.container import Services
from ragd.services.permissions import PermissionService

router = APIRouter(prefix="/api/v1", tags=["collections"])


def _perms(services: Services) -> PermissionService:
    if services.permissions is None:
        raise ProblemError(501, "not_supported", "collections are not available here")
    return services.permissions


@router.get("/collections", response_model=list[CollectionOut], summary="Collections you read")
def list_collections(
    request: Request, services: ServicesDep, principal: Reader
) -> list[CollectionOut]:
    perms = _perms(services)
    return [CollectionOut.of(c) for c in perms.collections(access_of(request, principal))]


@router.post("/collections", status_code=201, response_model=CollectionOut)
def create_collection(
    body: CollectionIn, request: Request, services: ServicesDep, principal: Reader
) -> CollectionOut:
    made = _perms(services).create_collection(
        access_of(request, principal),
        body.id,
        body.name,
        body.description,
        body.settings,
        actor_of(request, principal),
    )
    return CollectionOut.of(made)


@router.get("/collections/{collection_id}", response_model=CollectionOut)
def get_collection(
    collection_id: str, request: Request, services: ServicesDep, principal: Reader
) -> CollectionOut:
    return CollectionOut.of(
        _perms(services).collection(access_of(request, principal), collection_id)
    )


@router.patch("/collections/{collection_id}", response_model=CollectionOut)
def update_collection(
    collection_id: str,
    body: CollectionPatch,
    request: Request,
    services: ServicesDep,
    principal: Reader,
) -> CollectionOut:
    done = _perms(services).update_collection(
        access_of(request, principal),
        collection_id,
        name=body.name,
        description=body.description,
        settings=body.settings,
        actor=actor_of(request, principal),
    )
    return CollectionOut.of(done)


@router.delete(
    "/collections/{collection_id}",
    status_code=204,
    summary="Delete a collection with every document in it (Store, index, cache)",
)
def delete_collection(
    collection_id: str, request: Request, services: ServicesDep, principal: Reader
) -> Response:
    _perms(services).delete_collection(
        access_of(request, principal), collection_id, actor_of(request, principal)
    )
    services.cache.invalidate_tenant(principal.tenant_id)
    return Response(status_code=204)


@router.get("/collections/{collection_id}/grants", response_model=list[GrantOut])
def list_grants(
    collection_id: str, request: Request, services: ServicesDep, principal: Reader
) -> list[GrantOut]:
    grants = _perms(services).grants(access_of(request, principal), collection_id)
    return [GrantOut.of(g) for g in grants]


@router.put(
    "/collections/{collection_id}/grants",
    status_code=204,
    summary="Give a user, group or everyone read/write/manage (level null: revoke)",
)
def set_grant(
    collection_id: str,
    body: GrantIn,
    request: Request,
    services: ServicesDep,
    principal: Reader,
) -> Response:
    _perms(services).set_grant(
        access_of(request, principal),
        collection_id,
        body.principal,
        body.level,
        actor_of(request, principal),
    )
    return Response(status_code=204)


@router.get("/groups", response_model=list[GroupOut], summary="Groups and their members")
def list_groups(request: Request, services: ServicesDep, principal: TenantAdmin) -> list[GroupOut]:
    groups = _perms(services).groups(access_of(request, principal), actor_of(request, principal))
    return [GroupOut.of(g) for g in groups]


@router.post("/groups", status_code=201, response_model=GroupOut)
def create_group(
    body: GroupIn, request: Request, services: ServicesDep, principal: TenantAdmin
) -> GroupOut:
    group = _perms(services).create_group(
        access_of(request, principal), body.id, body.name, actor_of(request, principal)
    )
    return GroupOut.of(group)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(
    group_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> Response:
    _perms(services).delete_group(
        access_of(request, principal), group_id, actor_of(request, principal)
    )
    return Response(status_code=204)


@router.put("/groups/{group_id}/members/{user_id}", status_code=204)
def add_member(
    group_id: str, user_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> Response:
    services.accounts.get_user(principal.tenant_id, user_id)  # NotFound for a stranger
    _perms(services).set_member(
        access_of(request, principal), group_id, user_id, True, actor_of(request, principal)
    )
    return Response(status_code=204)


@router.delete("/groups/{group_id}/members/{user_id}", status_code=204)
def remove_member(
    group_id: str, user_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> Response:
    _perms(services).set_member(
        access_of(request, principal), group_id, user_id, False, actor_of(request, principal)
    )
    return Response(status_code=204)


@router.put(
    "/keys/{key_id}/collections",
    status_code=204,
    summary="Limit an API key to some collections (null: no limit)",
)
def set_key_collections(
    key_id: str,
    body: KeyScopeIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
) -> Response:
    if not any(k.id == key_id for k in services.accounts.list_keys(principal.tenant_id)):
        raise ProblemError(404, "not_found", f"key {key_id!r} not found")
    _perms(services).set_key_collections(
        access_of(request, principal), key_id, body.collections, actor_of(request, principal)
    )
    return Response(status_code=204)


@router.put(
    "/keys/{key_id}/role",
    status_code=204,
    summary="Limit an API key to a role, at most its user's (null: no limit)",
)
def set_key_role(
    key_id: str,
    body: KeyRoleIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
) -> Response:
    before, after = services.account_admin.set_key_role(
        principal.tenant_id, key_id, body.role, by=principal.role
    )
    detail = {
        "before": None if before.role is None else before.role.value,
        "after": None if after.role is None else after.role.value,
    }
    audit(request, services, principal, "key.role", key_id, detail=detail)
    return Response(status_code=204)
