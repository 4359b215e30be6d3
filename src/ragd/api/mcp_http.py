"""``/mcp``: the MCP server over streamable HTTP, behind the API's own authentication.

Every HTTP request to ``/mcp`` is authenticated first, exactly like a route that needs
the ``reader`` role (``get_principal`` in ``api/deps.py``: an ``X-API-Key`` header or an
``Authorization: Bearer`` key or JWT, the rate-limit budgets, a request slot); a failure
is the same problem+json 401/403/429 as anywhere else, before the MCP SDK sees the body.
The principal rides in the ASGI scope to the tools (``api/mcp_tools.py``).

The session manager runs **stateless**: each POST is a whole exchange, so any API replica
can serve any request and nothing is held between them. It must run inside the app's
lifespan (``McpEndpoint.running``). The SDK's DNS-rebinding check is off: it protects
servers that trust the browser's origin, and ``/mcp`` trusts only the credential headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ragd.api.deps import get_principal, request_id
from ragd.api.mcp_tools import Caller, build_mcp
from ragd.domain.accounts import Role
from ragd.errors import Forbidden, Unauthenticated

PATH = "/mcp"
_CALLER = "ragd.mcp_caller"


def _caller_of(ctx: Context) -> Caller:
    request = ctx.request_context.request
    caller = request.scope.get(_CALLER) if isinstance(request, Request) else None
    if not isinstance(caller, Caller):  # cannot happen behind McpEndpoint; refuse anyway
        raise Unauthenticated("no credentials")
    return caller


class McpEndpoint:
    """The ASGI endpoint mounted at ``/mcp`` (a route of the FastAPI app)."""

    def __init__(self) -> None:
        self.server = build_mcp(_caller_of)
        self.manager = self._new_manager()
        self.manager_started = False

    def _new_manager(self) -> StreamableHTTPSessionManager:
        self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return self.server.session_manager

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The session manager's task group for one run of the app's lifespan. A manager
        runs once, and an app's lifespan may run again (tests, ASGI tools): a fresh one
        each time."""
        if self.manager_started:
            self.manager = self._new_manager()
        self.manager_started = True
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services = request.app.state.services
        # Raised errors reach the app's problem+json handlers (nothing is sent yet).
        principal = await run_in_threadpool(get_principal, request, services)
        if not principal.can(Role.READER):
            raise Forbidden(f"this needs the reader role (you have {principal.role.value})")
        scope[_CALLER] = Caller(services, principal, request_id(request))
        await self.manager.handle_request(scope, receive, send)


def route_kwargs() -> dict[str, Any]:
    """How the app mounts the endpoint (see ``api/app.py``)."""
    return {"methods": ["GET", "POST", "DELETE"], "include_in_schema": False}
