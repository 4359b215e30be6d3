"""``GET /api/v1/me``: who the caller is (tenant, user, role, how they signed in).

The web UI asks this first: a 401 means it must sign in; otherwise the role decides which
pages it shows. With authentication off it answers the local platform admin.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ragd.api.deps import Reader, ServicesDep

router = APIRouter(prefix="/api/v1", tags=["me"])


@router.get("/me", summary="The calling principal: tenant, user, role, method")
def me(services: ServicesDep, principal: Reader) -> dict[str, Any]:
    return {
        "tenant_id": principal.tenant_id,
        "user_id": principal.user_id,
        "role": principal.role.value,
        "method": principal.method,
        "auth_required": services.settings.auth_required,
    }
