"""Feedback on answers and the tenant's answer analytics.

``POST /api/v1/answers/{answer_id}/feedback`` takes the ``answer_id`` of
``/api/v1/query`` or the ``id`` of a ``/v1/chat/completions`` response (``chatcmpl-...``).
``GET /api/v1/analytics`` (tenant admins) counts answers, declined questions and
feedback over the last ``days`` and lists the declined questions asked most often.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ragd.api.conversation_schemas import AnalyticsOut, FeedbackIn, FeedbackOut
from ragd.api.deps import Reader, ServicesDep, TenantAdmin

router = APIRouter(prefix="/api/v1", tags=["feedback"])


@router.post(
    "/answers/{answer_id}/feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Thumbs up or down on an answer (again: replaces yours)",
)
def give_feedback(
    answer_id: Annotated[str, Path(max_length=80)],
    body: FeedbackIn,
    services: ServicesDep,
    principal: Reader,
) -> FeedbackOut:
    feedback = services.feedback.give(
        principal.tenant_id,
        principal.user_id,
        answer_id,
        body.rating,
        reason=body.reason,
        comment=body.comment,
    )
    return FeedbackOut.of(feedback)


@router.get("/analytics", response_model=AnalyticsOut, summary="Answers and feedback, per tenant")
def analytics(
    services: ServicesDep,
    principal: TenantAdmin,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> AnalyticsOut:
    return AnalyticsOut.of(services.feedback.analytics(principal.tenant_id, days=days, top=top))
