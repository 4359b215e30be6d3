"""Request-scoped dependencies: the services, the caller (principal) and their rights.

Every route except health, readiness and metrics names the least role it needs
(``Reader``, ``Editor``, ``TenantAdmin``, ``PlatformAdmin``). The principal comes from an
``X-API-Key`` header or an ``Authorization: Bearer`` key or JWT; failures are audited (in
aggregate, by the authenticator). After authentication the caller spends one request from
its key's and its tenant's budgets (``RATE_LIMIT_REQUESTS_PER_MINUTE``, or the tenant's
own limit), then takes a request slot (``MAX_CONCURRENT_REQUESTS``).
With ``RAGD_AUTH=disabled`` every request acts as a platform admin of the default tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from opentelemetry import trace

from ragd.domain.accounts import Principal, Role
from ragd.domain.models import DEFAULT_TENANT
from ragd.errors import Forbidden, RateLimited
from ragd.observability import tracing
from ragd.services.auth import Attempt
from ragd.services.container import Services

log = logging.getLogger("ragd.api")
tracer = trace.get_tracer("ragd")

LOCAL_PRINCIPAL = Principal(DEFAULT_TENANT, "local", Role.PLATFORM_ADMIN, "none")


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def get_principal(request: Request, services: ServicesDep) -> Principal:
    """The authenticated caller, in an ``auth`` span; the request's span gets its tenant."""
    with tracer.start_as_current_span("auth") as span:
        principal = _authenticate(request, services, span)
        span.set_attribute(tracing.TENANT, principal.tenant_id)
        span.set_attribute(tracing.AUTH_ROLE, principal.role.value)
    trace.get_current_span().set_attribute(tracing.TENANT, principal.tenant_id)
    return principal


def _authenticate(request: Request, services: Services, span: trace.Span) -> Principal:
    if not services.settings.auth_required:
        span.set_attribute(tracing.AUTH_METHOD, "disabled")
        claim_slot(request)
        return LOCAL_PRINCIPAL
    api_key = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    bearer = credentials.strip() if scheme.lower() == "bearer" else None
    span.set_attribute(tracing.AUTH_METHOD, "api_key" if api_key else "bearer")
    attempt = Attempt(client_ip(request), request.url.path, request_id(request))
    principal = services.authenticator.authenticate(api_key=api_key, bearer=bearer, attempt=attempt)
    request.state.principal = principal
    _spend_request(services, principal)
    claim_slot(request)
    return principal


def claim_slot(request: Request) -> None:
    """Take one of the process's request slots, now that the caller is known (see
    ``RequestContext``: unauthenticated requests never hold one); 503 when all are taken."""
    claim = getattr(request.state, "claim_slot", None)
    if claim is not None:
        claim()


def _spend_request(services: Services, principal: Principal) -> None:
    default = services.settings.rate_limit_requests_per_minute
    override = services.accounts.get_tenant(principal.tenant_id).limits.rate_limit_rpm
    tenant_limit = override if override is not None else default
    budgets = []
    if default and principal.key_id:
        budgets.append((f"key:{principal.key_id}", default, "API key"))
    if tenant_limit:
        budgets.append(("tenant", tenant_limit, "tenant"))
    for key, limit, what in budgets:
        decision = services.limiter.hit(principal.tenant_id, key, limit=limit, window_seconds=60)
        if not decision.allowed:
            raise RateLimited(
                f"rate limit of {limit} requests per minute for this {what} reached",
                decision.retry_after_seconds,
            )


def require(role: Role) -> object:
    def dependency(
        principal: Annotated[Principal, Depends(get_principal)],
    ) -> Principal:
        if not principal.can(role):
            raise Forbidden(f"this needs the {role.value} role (you have {principal.role.value})")
        return principal

    dependency.required_role = role  # type: ignore[attr-defined]  # read by document_roles
    return Depends(dependency)


def required_role(dependant: Any) -> Role | None:
    """The role a route's dependency tree demands (None: a public route)."""
    for sub in dependant.dependencies:
        role = getattr(sub.call, "required_role", None) or required_role(sub)
        if role is not None:
            return role
    return None


def document_roles(router: APIRouter) -> APIRouter:
    """Put each route's required role into the OpenAPI schema as ``x-required-role``, so
    clients (and the route-enumerating auth test) can see it."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            role = required_role(route.dependant)
            if role is not None:
                extra = {**(route.openapi_extra or {}), "x-required-role": role.value}
                route.openapi_extra = extra
    return router


Reader = Annotated[Principal, require(Role.READER)]
Editor = Annotated[Principal, require(Role.EDITOR)]
TenantAdmin = Annotated[Principal, require(Role.TENANT_ADMIN)]
PlatformAdmin = Annotated[Principal, require(Role.PLATFORM_ADMIN)]


def audit(
    request: Request,
    services: Services,
    principal: Principal,
    action: str,
    resource: str | None,
    outcome: str = "success",
    detail: Mapping[str, object] | None = None,
) -> None:
    """Append one audit entry for a write or admin action of this request."""
    services.audit.record(
        principal.tenant_id,
        user_id=principal.user_id,
        action=action,
        resource=resource,
        outcome=outcome,
        client_ip=client_ip(request),
        request_id=request_id(request),
        detail=dict(detail or {}),
    )
