"""The caller's rights in a request: ``Access`` from the principal, document checks.

A document the caller may not read answers exactly as a document that does not exist
(404), so ids cannot be probed; the refusal is audited and counted
(``PermissionService.denied``).
"""

from __future__ import annotations

from fastapi import Request

from ragd.api.deps import client_ip, get_services, request_id
from ragd.domain.access import Access, Level
from ragd.domain.accounts import Principal
from ragd.domain.models import Document
from ragd.errors import NotFound
from ragd.services.permissions import Actor

COLLECTION_HEADER = "X-Ragd-Collection"


def actor_of(request: Request, principal: Principal) -> Actor:
    return Actor(principal.user_id, request_id(request), client_ip(request))


def access_of(request: Request, principal: Principal) -> Access:
    """Read fresh for every request: a changed grant counts from the next one."""
    services = get_services(request)
    if services.permissions is None:
        return Access(principal.tenant_id, user_id=principal.user_id)
    return services.permissions.access_for(principal)


def caller_access(
    request: Request, principal: Principal, collections: str | list[str] | None = None
) -> Access:
    """``access_of``, narrowed to the collections the body, the model name or the
    ``X-Ragd-Collection`` header (comma-separated) names."""
    services = get_services(request)
    access = access_of(request, principal)
    named = [collections] if isinstance(collections, str) else collections
    header = request.headers.get(COLLECTION_HEADER)
    if not named and header:
        named = [c.strip() for c in header.split(",") if c.strip()]
    if services.permissions is None or not named:
        return access
    return services.permissions.narrow(access, named, actor_of(request, principal))


def checked_document(
    request: Request, principal: Principal, document_id: str, needed: Level = Level.READ
) -> Document:
    """The document, if the caller may read it (and holds ``needed`` on its collection);
    ``NotFound`` otherwise, audited."""
    services = get_services(request)
    doc = services.store.get_document(principal.tenant_id, document_id)
    if services.permissions is None:
        return doc
    access = services.permissions.access_for(principal)
    actor = actor_of(request, principal)
    if not access.may_read_document(doc.collection_id, doc.readers):
        services.permissions.denied(access, "no_grant", f"document:{document_id}", actor)
        raise NotFound(f"document {document_id!r} not found")
    if needed is not Level.READ:
        services.permissions.require(access, doc.collection_id, needed, actor=actor)
    return doc
