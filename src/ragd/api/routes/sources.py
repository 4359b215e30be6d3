"""``/api/v1/sources``: places ragd keeps the index equal to (S3 buckets, web sites, server
folders): create, list, get, change, delete, run now, status.

Tenant admins create, change and delete sources (they hold credentials and decide what
enters the index); editors list them, see their status and start a run. A source's secret
is accepted on create and update and never returned, logged or audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ragd.api.deps import Editor, ServicesDep, TenantAdmin, audit
from ragd.api.source_schemas import (
    SourceIn,
    SourceListOut,
    SourceOut,
    SourceStatusOut,
    SourceUpdateIn,
)
from ragd.errors import ConfigError
from ragd.services.container import Services
from ragd.services.sources import SourceService

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


def _sources(services: Services) -> SourceService:
    if services.sources is None:
        raise ConfigError("synced sources are not available in this process")
    return services.sources


@router.post("", status_code=201, response_model=SourceOut, summary="Add a synced source")
def create_source(
    body: SourceIn, request: Request, services: ServicesDep, principal: TenantAdmin
) -> SourceOut:
    source = _sources(services).create(
        principal.tenant_id,
        name=body.name,
        kind=body.kind,
        config=body.config,
        secret=body.secret,
        interval_seconds=body.interval_seconds,
        enabled=body.enabled,
    )
    audit(
        request,
        services,
        principal,
        "source.create",
        source.id,
        detail={"name": source.name, "kind": source.kind, "has_secret": source.has_secret},
    )
    return SourceOut.of(source)


@router.get("", response_model=SourceListOut, summary="List the tenant's synced sources")
def list_sources(services: ServicesDep, principal: Editor) -> SourceListOut:
    return SourceListOut(
        sources=[SourceOut.of(s) for s in _sources(services).list(principal.tenant_id)]
    )


@router.get("/{source_id}", response_model=SourceOut, summary="One source and its status")
def get_source(source_id: str, services: ServicesDep, principal: Editor) -> SourceOut:
    return SourceOut.of(_sources(services).get(principal.tenant_id, source_id))


@router.get(
    "/{source_id}/status",
    response_model=SourceStatusOut,
    summary="Last run (items seen/added/changed/deleted/failed with reasons) and next run",
)
def source_status(source_id: str, services: ServicesDep, principal: Editor) -> SourceStatusOut:
    return SourceStatusOut.of(_sources(services).get(principal.tenant_id, source_id))


@router.patch("/{source_id}", response_model=SourceOut, summary="Change a source")
def update_source(
    source_id: str,
    body: SourceUpdateIn,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
) -> SourceOut:
    source = _sources(services).update(
        principal.tenant_id,
        source_id,
        config=body.config,
        secret=body.secret,
        clear_secret=body.clear_secret,
        interval_seconds=body.interval_seconds,
        enabled=body.enabled,
    )
    changed = sorted(k for k, v in body.model_dump(exclude_unset=True).items() if k != "secret")
    if body.secret:
        changed.append("secret")
    audit(request, services, principal, "source.update", source_id, detail={"changed": changed})
    return SourceOut.of(source)


@router.post(
    "/{source_id}/run",
    status_code=202,
    response_model=SourceOut,
    summary="Run a source now (the next worker poll starts it)",
)
def run_source(
    source_id: str, request: Request, services: ServicesDep, principal: Editor
) -> SourceOut:
    source = _sources(services).run_soon(principal.tenant_id, source_id)
    audit(request, services, principal, "source.run", source_id)
    return SourceOut.of(source)


@router.delete(
    "/{source_id}",
    status_code=204,
    summary="Delete a source and (unless keep_documents) the documents it brought in",
)
def delete_source(
    source_id: str,
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
    keep_documents: Annotated[bool, Query()] = False,
) -> Response:
    deleted = _sources(services).remove(
        principal.tenant_id, source_id, keep_documents=keep_documents
    )
    audit(request, services, principal, "source.delete", source_id, detail={"documents": deleted})
    return Response(status_code=204)
