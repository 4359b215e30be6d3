"""``/api/v1/conversations``: stored conversations of the caller (and shared ones).

Create one, then ask in it with ``POST /api/v1/query`` (or ``/v1/chat/completions``)
and ``"conversation_id"``: each answer is appended as a turn, with its passages and
citations. Only the owner renames, shares, deletes or asks; a shared conversation is
readable by every user of the tenant. Another user's unshared conversation is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ragd.api.access import access_of
from ragd.api.conversation_schemas import (
    ConversationDetailOut,
    ConversationIn,
    ConversationListOut,
    ConversationOut,
    ConversationPatch,
    TurnOut,
)
from ragd.api.deps import Reader, ServicesDep, audit

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.post("", status_code=201, response_model=ConversationOut, summary="Start a conversation")
def create(body: ConversationIn, services: ServicesDep, principal: Reader) -> ConversationOut:
    conv = services.conversations.create(principal.tenant_id, principal.user_id, body.title)
    return ConversationOut.of(conv, principal.user_id)


@router.get("", response_model=ConversationListOut, summary="Your conversations, latest first")
def list_conversations(
    services: ServicesDep,
    principal: Reader,
    shared: Annotated[bool, Query(description="Include others' shared conversations")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConversationListOut:
    convs = services.conversations.list_for(
        principal.tenant_id, principal.user_id, include_shared=shared, limit=limit, offset=offset
    )
    return ConversationListOut(
        conversations=[ConversationOut.of(c, principal.user_id) for c in convs],
        limit=limit,
        offset=offset,
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetailOut,
    summary="A conversation with its turns (answers, passages, citations)",
)
def get_conversation(
    conversation_id: str, request: Request, services: ServicesDep, principal: Reader
) -> ConversationDetailOut:
    view = services.conversations.read(
        principal.tenant_id, principal.user_id, conversation_id, access_of(request, principal)
    )
    head = ConversationOut.of(view.conversation, principal.user_id)
    return ConversationDetailOut(**head.model_dump(), messages=[TurnOut.of(t) for t in view.turns])


@router.patch("/{conversation_id}", response_model=ConversationOut, summary="Rename or (un)share")
def update(
    conversation_id: str,
    body: ConversationPatch,
    request: Request,
    services: ServicesDep,
    principal: Reader,
) -> ConversationOut:
    conv = services.conversations.update(
        principal.tenant_id,
        principal.user_id,
        conversation_id,
        title=body.title,
        shared=body.shared,
    )
    if body.shared is not None:
        audit(
            request,
            services,
            principal,
            "conversation.share" if body.shared else "conversation.unshare",
            conversation_id,
        )
    return ConversationOut.of(conv, principal.user_id)


@router.delete("/{conversation_id}", status_code=204, summary="Delete with its turns")
def delete(
    conversation_id: str, request: Request, services: ServicesDep, principal: Reader
) -> Response:
    services.conversations.delete(principal.tenant_id, principal.user_id, conversation_id)
    audit(request, services, principal, "conversation.delete", conversation_id)
    return Response(status_code=204)
