"""``/api/v1/documents``: upload (multipart file or JSON text), list, get, delete, cancel,
retry, and an image chunk's image.

The upload route reads the body itself instead of declaring ``File``/``Form`` parameters:
FastAPI turns any body-parsing failure into a bare 400, and ragd answers each kind of bad
upload with its own problem (413 too large, 415 wrong content type, 422 bad metadata).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ragd.api.access import actor_of, caller_access, checked_document
from ragd.api.deps import Editor, Reader, ServicesDep, audit, get_services
from ragd.api.problems import ProblemError, status_for
from ragd.api.schemas import (
    DocumentListOut,
    DocumentOut,
    PlacementIn,
    SubmittedOut,
    TextDocumentIn,
)
from ragd.api.tenancy import guard_cross_tenant
from ragd.domain import metadata as rules
from ragd.domain.access import DEFAULT_COLLECTION, Level, check_slug, readers_of
from ragd.domain.accounts import Principal
from ragd.domain.models import DocumentStatus, TenantId
from ragd.errors import DocumentRejected, InvalidRequest, NotFound
from ragd.services.ingest import DocumentNotCancellable, Submission

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "metadata": {
                            "type": "string",
                            "description": "JSON object of metadata, as a string",
                        },
                        "title": {"type": "string"},
                        "collection": {"type": "string", "description": "default: default"},
                        "readers": {
                            "type": "string",
                            "description": "allow-list: JSON array or comma list of "
                            "principals (u:<user id>, g:<group id>)",
                        },
                    },
                }
            },
            "application/json": {"schema": TextDocumentIn.model_json_schema()},
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=SubmittedOut,
    openapi_extra=_UPLOAD_BODY,
    summary="Add a document (multipart file or JSON text); idempotent by content hash",
    responses={200: {"model": SubmittedOut, "description": "Same content already stored"}},
)
async def upload(
    request: Request, response: Response, services: ServicesDep, principal: Editor
) -> SubmittedOut:
    tenant = principal.tenant_id
    # Before the body is read: a tenant at its quota is refused without uploading.
    await run_in_threadpool(services.submissions.check_quota, tenant)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    place = _Placement(request, principal)
    if content_type == "application/json":
        submission = await _submit_json(request, services, tenant, place)
    elif content_type == "multipart/form-data":
        submission = await _submit_multipart(request, services, tenant, place)
    else:
        raise ProblemError(
            415,
            "unsupported_media_type",
            "send multipart/form-data with a 'file' field, or application/json with 'text'",
        )
    doc = submission.document
    await run_in_threadpool(
        audit,
        request,
        services,
        principal,
        "document.create",
        doc.id,
        "rejected" if submission.outcome == "failed" else "success",
        {"outcome": submission.outcome, "source": doc.source, "bytes": doc.size_bytes},
    )
    if submission.outcome == "failed":
        error = submission.error or DocumentRejected(doc.error or "document rejected")
        raise ProblemError(status_for(error), error.code, str(error), document_id=doc.id)
    if submission.outcome == "unchanged":
        response.status_code = 200
    return SubmittedOut(**DocumentOut.of(doc).model_dump(), outcome=submission.outcome)


class _Placement:
    """Where an upload goes: the named collection (default ``default``), which the
    caller must be able to write, and the allow-list it gets."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self.request = request
        self.principal = principal

    def check(self, collection: str | None, readers: object) -> tuple[str, tuple[str, ...]]:
        collection = collection or DEFAULT_COLLECTION
        check_slug(collection, "collection")
        services = get_services(self.request)
        if services.permissions is not None:
            access = services.permissions.access_for(self.principal)
            services.permissions.require(
                access, collection, Level.WRITE, actor=actor_of(self.request, self.principal)
            )
            services.permissions.permissions.get_collection(self.principal.tenant_id, collection)
        if isinstance(readers, str):
            try:
                readers = (
                    json.loads(readers)
                    if readers.strip().startswith("[")
                    else [r.strip() for r in readers.split(",") if r.strip()]
                )
            except ValueError:
                raise InvalidRequest("readers must be a JSON array or a comma list") from None
        return collection, readers_of(readers)  # type: ignore[arg-type]


async def _submit_json(
    request: Request, services: ServicesDep, tenant: TenantId, place: _Placement
) -> Submission:
    raw = await request.body()
    try:
        payload = TextDocumentIn.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        if any("recursion limit" in str(e.get("msg", "")) for e in errors):
            # The JSON parser's own bound, far above the metadata's: say what the rule is.
            raise ProblemError(
                422,
                "validation_error",
                f"the JSON body nests too deeply: metadata nests at most "
                f"{rules.MAX_METADATA_DEPTH} levels",
            ) from None
        raise RequestValidationError(errors) from None
    collection, readers = await run_in_threadpool(place.check, payload.collection, payload.readers)
    return await run_in_threadpool(
        services.submissions.submit_text,
        tenant,
        payload.text,
        title=payload.title,
        source=payload.source,
        metadata=payload.metadata,
        collection_id=collection,
        readers=readers,
    )


async def _submit_multipart(
    request: Request, services: ServicesDep, tenant: TenantId, place: _Placement
) -> Submission:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # python-multipart / starlette parse errors
        if type(exc).__name__ == "BodyTooLarge":
            raise
        raise ProblemError(422, "invalid_multipart", f"malformed multipart body: {exc}") from None
    try:
        upload_file = form.get("file")
        if not isinstance(upload_file, UploadFile):
            raise ProblemError(422, "validation_error", "multipart field 'file' is required")
        metadata = _metadata(form.get("metadata"))
        title = _form_text(form.get("title"), "title", rules.check_title)
        source = _form_text(upload_file.filename, "file name", _file_name)
        raw_collection = form.get("collection")
        if raw_collection is not None and not isinstance(raw_collection, str):
            raise ProblemError(422, "validation_error", "'collection' must be text")
        collection, readers = await run_in_threadpool(
            place.check, raw_collection or None, form.get("readers")
        )
        data = await upload_file.read()
        return await run_in_threadpool(
            services.submissions.submit_bytes,
            tenant,
            data,
            source=source or "upload",
            title=title if title and title.strip() else None,
            metadata=metadata,
            collection_id=collection,
            readers=readers,
        )
    finally:
        await form.close()


def _metadata(raw: object) -> dict[str, Any]:
    """The ``metadata`` form field, under the same rules as the JSON route's."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise ProblemError(422, "validation_error", "'metadata' must be a JSON object string")
    try:
        return rules.parse_metadata(raw)
    except InvalidRequest as exc:
        raise ProblemError(422, "validation_error", str(exc)) from None


def _file_name(name: str) -> str:
    return rules.check_source(name, "file name")


def _form_text(raw: object, what: str, check: Callable[[str], str]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ProblemError(422, "validation_error", f"'{what}' must be text")
    try:
        return check(raw)
    except InvalidRequest as exc:
        raise ProblemError(422, "validation_error", str(exc)) from None


@router.get("", response_model=DocumentListOut, summary="List documents, newest first")
def list_documents(
    request: Request,
    services: ServicesDep,
    principal: Reader,
    status: DocumentStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Title/source contains")] = None,
    collection: Annotated[
        str | None, Query(max_length=64, description="Only this collection")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DocumentListOut:
    tenant = principal.tenant_id
    visible = caller_access(request, principal, collection).index_filter()
    docs = services.store.list_documents(
        tenant,
        status=status,
        name_contains=q or None,
        limit=limit,
        offset=offset,
        visible=visible,
    )
    total = services.store.count_documents(
        tenant, status=status, name_contains=q or None, visible=visible
    )
    return DocumentListOut(
        documents=[DocumentOut.of(d) for d in docs], total=total, limit=limit, offset=offset
    )


@router.get("/{document_id}", response_model=DocumentOut, summary="One document and its status")
def get_document(
    document_id: str, request: Request, services: ServicesDep, principal: Reader
) -> DocumentOut:
    with guard_cross_tenant(request, services, principal, document_id):
        return DocumentOut.of(checked_document(request, principal, document_id))


@router.get(
    "/{document_id}/chunks/{chunk_id}/image",
    summary="The image an image chunk was read from (a PNG of at most 768 pixels a side)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the image"}},
)
def chunk_image(
    document_id: str, chunk_id: str, request: Request, services: ServicesDep, principal: Reader
) -> Response:
    """Checked as reading the document is (tenant, collection, allow-list); 404 for a
    chunk of another document, one that is not an image chunk, or an image not kept."""
    tenant = principal.tenant_id
    with guard_cross_tenant(request, services, principal, document_id):
        checked_document(request, principal, document_id)
    found = services.store.get_chunks(tenant, [chunk_id]).get(chunk_id)
    chunk = found[0] if found is not None else None
    image = None
    if (
        chunk is not None
        and chunk.document_id == document_id
        and chunk.metadata.get("kind") == "image"
        and services.images is not None
    ):
        image = services.images.get_image(tenant, document_id, str(chunk.metadata.get("image")))
    if image is None:
        raise NotFound(f"chunk {chunk_id!r} of document {document_id!r} has no image")
    return Response(
        content=image.data,
        media_type=image.media_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.delete(
    "/{document_id}",
    status_code=204,
    summary="Delete a document, its chunks and index entries (atomically)",
)
def delete_document(
    document_id: str, request: Request, services: ServicesDep, principal: Editor
) -> Response:
    with guard_cross_tenant(request, services, principal, document_id):
        checked_document(request, principal, document_id, Level.WRITE)
        services.submissions.delete(principal.tenant_id, document_id)
    audit(request, services, principal, "document.delete", document_id)
    return Response(status_code=204)


@router.post(
    "/{document_id}/cancel",
    response_model=DocumentOut,
    summary="Stop indexing a queued or in-flight document (it ends failed: 'cancelled by …')",
    responses={409: {"description": "The document is already indexed or failed"}},
)
def cancel_document(
    document_id: str, request: Request, services: ServicesDep, principal: Editor
) -> DocumentOut:
    with guard_cross_tenant(request, services, principal, document_id):
        checked_document(request, principal, document_id, Level.WRITE)
        try:
            doc = services.submissions.cancel(
                principal.tenant_id, document_id, by=principal.user_id
            )
        except DocumentNotCancellable as exc:
            raise ProblemError(409, exc.code, str(exc)) from None
    audit(request, services, principal, "document.cancel", document_id)
    return DocumentOut.of(doc)


@router.post(
    "/{document_id}/retry",
    response_model=DocumentOut,
    status_code=202,
    summary="Queue a failed document again",
)
def retry_document(
    document_id: str, request: Request, services: ServicesDep, principal: Editor
) -> DocumentOut:
    with guard_cross_tenant(request, services, principal, document_id):
        checked_document(request, principal, document_id, Level.WRITE)
        doc = services.ingest.retry_document(principal.tenant_id, document_id)
    audit(request, services, principal, "document.retry", document_id)
    return DocumentOut.of(doc)


@router.patch(
    "/{document_id}",
    response_model=DocumentOut,
    summary="Move a document to another collection and/or change its allow-list",
)
def place_document(
    document_id: str,
    body: PlacementIn,
    request: Request,
    services: ServicesDep,
    principal: Editor,
) -> DocumentOut:
    if services.permissions is None:
        raise ProblemError(501, "not_supported", "collections are not available here")
    with guard_cross_tenant(request, services, principal, document_id):
        services.permissions.place_document(
            services.permissions.access_for(principal),
            document_id,
            collection_id=body.collection,
            readers=body.readers,
            actor=actor_of(request, principal),
        )
        services.cache.invalidate_tenant(principal.tenant_id)
        return DocumentOut.of(services.store.get_document(principal.tenant_id, document_id))
