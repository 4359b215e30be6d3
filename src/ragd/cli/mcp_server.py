"""``ragd mcp``: the MCP server over stdio, for editors and agents that start it themselves.

The caller is fixed when the process starts: the API key (``--api-key`` or
``RAGD_MCP_API_KEY``) is resolved to its tenant and role through the same
``Authenticator`` as the HTTP API, and every tool call acts as that key (a revoked key
stops working when the process restarts). Without a key, and only when authentication is
off (``RAGD_AUTH=disabled``, or the embedded default on loopback), the calls act as the
local platform admin of the default tenant, like the HTTP API then does.

stdout carries the protocol, so nothing else may print there: logs go to stderr.
"""

from __future__ import annotations

import os
from typing import Annotated

import anyio
import typer

from ragd.api.deps import LOCAL_PRINCIPAL
from ragd.api.mcp_tools import Caller, build_mcp, fixed_caller
from ragd.cli.common import services
from ragd.errors import Unauthenticated
from ragd.services.auth import Attempt

KEY_ENV = "RAGD_MCP_API_KEY"


def mcp(
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help=f"The caller's API key (default: ${KEY_ENV})."),
    ] = None,
) -> None:
    """Serve the MCP tools (search, ask, list_documents, get_document) over stdio."""
    svc = services()
    try:
        key = api_key or os.environ.get(KEY_ENV) or None
        if key:
            principal = svc.authenticator.authenticate(
                api_key=key, bearer=None, attempt=Attempt(None, "mcp:stdio", None)
            )
        elif svc.settings.auth_required:
            raise Unauthenticated(
                f"ragd mcp needs an API key (--api-key or {KEY_ENV}) when authentication is on"
            )
        else:
            principal = LOCAL_PRINCIPAL
        server = build_mcp(fixed_caller(Caller(svc, principal)))
        anyio.run(server.run_stdio_async)
    finally:
        svc.close()
