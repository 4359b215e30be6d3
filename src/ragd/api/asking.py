"""Turning an HTTP question into the query use case's request.

Shared by ``/api/v1/search``, ``/api/v1/query`` and ``/v1/chat/completions``: the caller
(tenant, user) comes from the principal, the request id from the middleware, and the wire
filters become the domain's ``SearchFilters`` (document ids of another tenant in them are
counted and audited as cross-tenant probes: ``api.tenancy``).
"""

from __future__ import annotations

import dataclasses

from fastapi import Request

from ragd.api.access import caller_access
from ragd.api.deps import get_services, request_id
from ragd.api.schemas import Filters
from ragd.api.tenancy import check_filter_probes
from ragd.domain.accounts import Principal
from ragd.domain.filters import SearchFilters
from ragd.ports.index import Mode
from ragd.ports.llm import ChatMessage
from ragd.services.querying import QueryKind, QueryRequest


def filters_of(f: Filters | None) -> SearchFilters:
    return SearchFilters.from_mapping(f.model_dump(exclude_none=True) if f else None)


def query_request(
    principal: Principal,
    request: Request,
    kind: QueryKind,
    question: str,
    *,
    mode: Mode | None = None,
    k: int | None = None,
    filters: Filters | None = None,
    history: tuple[ChatMessage, ...] = (),
    conversation_id: str | None = None,
    collections: str | list[str] | None = None,
) -> QueryRequest:
    searched = filters_of(filters)
    services = get_services(request)
    if searched.document_ids:
        check_filter_probes(request, services, principal, searched)
    access = caller_access(request, principal, collections)
    searched = dataclasses.replace(searched, access=access.index_filter())
    named = [collections] if isinstance(collections, str) else collections or []
    if mode is None and len(named) == 1 and services.permissions is not None:
        # One collection named: its default retrieval mode, if it has one.
        settings = services.permissions.permissions.get_collection(principal.tenant_id, named[0])
        mode = settings.settings.retrieval_mode  # type: ignore[assignment]
    return QueryRequest(
        tenant=principal.tenant_id,
        question=question,
        kind=kind,
        user_id=principal.user_id,
        request_id=request_id(request),
        mode=mode,
        k=k,
        filters=searched,
        history=history,
        conversation_id=conversation_id,
        access=access,
    )
