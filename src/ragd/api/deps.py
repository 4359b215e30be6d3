"""Request-scoped dependencies: the services and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ragd.domain.models import DEFAULT_TENANT, TenantId
from ragd.services.container import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def current_tenant() -> TenantId:
    """Every request acts for one tenant. Until authentication arrives (the tenancy
    issue: keys and tokens resolve to a tenant), that is the embedded default tenant."""
    return DEFAULT_TENANT


ServicesDep = Annotated[Services, Depends(get_services)]
TenantDep = Annotated[TenantId, Depends(current_tenant)]
