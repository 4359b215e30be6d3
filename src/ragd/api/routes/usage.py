"""``GET /api/v1/usage``: LLM tokens and cost, per model, since a date (default: this
month). Everyone sees their own; tenant admins may ask for the whole tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ragd.api.deps import Reader, ServicesDep
from ragd.domain.accounts import Role
from ragd.errors import Forbidden
from ragd.services.quotas import month_start

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.get("/usage", summary="LLM tokens and cost per model")
def usage(
    services: ServicesDep,
    principal: Reader,
    scope: Annotated[Literal["me", "tenant"], Query()] = "me",
    since: Annotated[datetime | None, Query(description="Default: start of this month")] = None,
) -> dict[str, Any]:
    if scope == "tenant" and not principal.can(Role.TENANT_ADMIN):
        raise Forbidden("tenant-wide usage needs the tenant_admin role")
    start = since or month_start()
    rows = services.audit.usage(
        principal.tenant_id,
        user_id=principal.user_id if scope == "me" else None,
        since=start,
    )
    return {
        "tenant_id": principal.tenant_id,
        "scope": scope,
        "since": start.isoformat(),
        "models": rows,
        "total_tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows),
        "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
    }
