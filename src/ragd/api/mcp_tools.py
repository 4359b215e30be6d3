"""The MCP server's tools: ``search``, ``ask``, ``list_documents``, ``get_document``.

Built on the official MCP Python SDK's ``MCPServer``. The same server object serves both
transports: ``ragd mcp`` over stdio (``cli/mcp_server.py``) and the streamable-HTTP
endpoint ``/mcp`` of the API (``api/mcp_http.py``). Each tool asks ``caller_of`` for the
services and the authenticated principal of the call, so the caller's tenant and role
apply exactly as on the HTTP routes: every tool needs the ``reader`` role, and every
read is scoped to the principal's tenant. The tools call the same use cases as the
routes (``QueryService`` for ``search`` and ``ask``, so questions are quota-checked,
logged and accounted), and answer with the same wire shapes (``api/schemas.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ragd import __version__
from ragd.api.problems import status_for
from ragd.api.schemas import MAX_QUERY_CHARS, DocumentListOut, DocumentOut, HitOut, QueryOut
from ragd.domain.accounts import Principal, Role
from ragd.domain.models import DocumentStatus
from ragd.errors import RagdError
from ragd.ports.index import Mode
from ragd.services.container import Services
from ragd.services.querying import QueryKind, QueryRequest

INSTRUCTIONS = (
    "ragd answers questions from a tenant's documents with verified citations. Use `ask` "
    "for a grounded answer (each [n] in it points at passage n), `search` for ranked "
    "passages, `list_documents` and `get_document` to see what is indexed."
)


@dataclass(frozen=True)
class Caller:
    """Who makes one tool call, and the services to serve it with."""

    services: Services
    principal: Principal
    request_id: str | None = None


CallerOf = Callable[[Context], Caller]


def _reader(ctx: Context, caller_of: CallerOf) -> Caller:
    caller = caller_of(ctx)
    if not caller.principal.can(Role.READER):
        raise ToolError(f"this needs the reader role (you have {caller.principal.role.value})")
    return caller


def _tool_error(exc: RagdError) -> ToolError:
    """A ragd error as the message the model reads: the HTTP rule (an internal error's
    detail is withheld) with the problem code in front."""
    status = status_for(exc)
    detail = str(exc) if status < 500 or exc.retryable else "internal error"
    return ToolError(f"{exc.code}: {detail}")


async def _run(fn: Callable[[], Any]) -> Any:
    """A blocking use case on a worker thread, its ragd errors as tool errors."""
    try:
        return await anyio.to_thread.run_sync(fn)
    except RagdError as exc:
        raise _tool_error(exc) from None


def _request(
    caller: Caller, kind: QueryKind, question: str, mode: Mode | None, k: int | None
) -> QueryRequest:
    p = caller.principal
    return QueryRequest(
        tenant=p.tenant_id,
        question=question,
        kind=kind,
        user_id=p.user_id,
        request_id=caller.request_id,
        mode=mode,
        k=k,
    )


Question = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
TopK = Annotated[int | None, Field(ge=1, le=100, description="passages to retrieve")]


def build_mcp(caller_of: CallerOf) -> MCPServer:
    """The MCP server with ragd's four tools; ``caller_of`` resolves each call's caller
    (raising ``Forbidden``/``Unauthenticated`` when there is none)."""
    server: MCPServer = MCPServer(
        "ragd", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )

    def resolve(ctx: Context) -> Caller:
        try:
            return _reader(ctx, caller_of)
        except RagdError as exc:
            raise _tool_error(exc) from None

    @server.tool(description="Ranked passages for a query, with scores (no answer written).")
    async def search(
        query: Question, ctx: Context, top_k: TopK = None, mode: Mode | None = None
    ) -> list[HitOut]:
        caller = resolve(ctx)
        result = await _run(
            lambda: caller.services.queries.search(_request(caller, "search", query, mode, top_k))
        )
        return [HitOut.of(h) for h in result.hits]

    @server.tool(
        description=(
            "Answer a question from the documents. The answer cites passages as [n]; "
            "citations are checked against the passages (grounded=false: no answer found)."
        )
    )
    async def ask(
        question: Question, ctx: Context, top_k: TopK = None, mode: Mode | None = None
    ) -> QueryOut:
        caller = resolve(ctx)
        answer = await _run(
            lambda: caller.services.queries.answer(_request(caller, "query", question, mode, top_k))
        )
        return QueryOut.of(answer)

    @server.tool(description="The tenant's documents, newest first, with their status.")
    async def list_documents(
        ctx: Context,
        status: DocumentStatus | None = None,
        contains: Annotated[str | None, Field(max_length=200)] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0,
    ) -> DocumentListOut:
        caller = resolve(ctx)
        store, tenant = caller.services.store, caller.principal.tenant_id

        def listing() -> DocumentListOut:
            docs = store.list_documents(
                tenant, status=status, name_contains=contains or None, limit=limit, offset=offset
            )
            total = store.count_documents(tenant, status=status, name_contains=contains or None)
            return DocumentListOut(
                documents=[DocumentOut.of(d) for d in docs],
                total=total,
                limit=limit,
                offset=offset,
            )

        result: DocumentListOut = await _run(listing)
        return result

    @server.tool(description="One document's title, source, status, chunk count and metadata.")
    async def get_document(
        document_id: Annotated[str, Field(min_length=1, max_length=200)], ctx: Context
    ) -> DocumentOut:
        caller = resolve(ctx)
        doc = await _run(
            lambda: caller.services.store.get_document(caller.principal.tenant_id, document_id)
        )
        return DocumentOut.of(doc)

    return server


def fixed_caller(caller: Caller) -> CallerOf:
    """One caller for every call (stdio: the key resolved when the process started)."""

    def caller_of(_ctx: Context) -> Caller:
        return caller

    return caller_of


__all__ = ["Caller", "CallerOf", "build_mcp", "fixed_caller"]
