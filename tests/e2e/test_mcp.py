"""The MCP server through the official MCP Python SDK's client: streamable HTTP against a
live ``ragd serve`` (with authentication on), and stdio against a ``ragd mcp`` subprocess.

Both sessions list the four tools and call ``ask``; the answer cites the passage that
holds the fact. The caller's key decides the tenant: another tenant's key sees nothing of
the first tenant's documents, and a request without a key is a 401 before MCP starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.live import Server

pytestmark = pytest.mark.slow

FACT = "The Skerrow Island lighthouse was automated in 1987, after its last keeper retired."
TOOLS = {"search", "ask", "list_documents", "get_document"}


def _ragd(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("mcp")
    return {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "RAGD_AUTH": "required",
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        "LOG_LEVEL": "warning",
    }


@pytest.fixture(scope="module")
def live(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A live server with two tenants; acme holds one indexed document."""
    acme = _ragd(["admin", "create-tenant", "acme"], env)["key"]
    other = _ragd(["admin", "create-tenant", "other"], env)["key"]
    server = Server(env, Path(env["RAGD_DATA_DIR"]) / "serve.log")
    try:
        with httpx.Client(base_url=server.base, headers={"X-API-Key": acme}, timeout=30) as c:
            r = c.post("/api/v1/documents", json={"text": FACT, "title": "Skerrow"})
            assert r.status_code == 202, r.text
            doc_id = r.json()["id"]
            deadline = time.monotonic() + 60
            while c.get(f"/api/v1/documents/{doc_id}").json()["status"] != "indexed":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        yield {"base": server.base, "acme": acme, "other": other, "doc_id": doc_id}
    finally:
        server.stop()


def _http(base: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=60)
    return Client(streamable_http_client(base + "/mcp", http_client=http))


def _check_ask(result: Any, doc_id: str) -> None:
    assert not result.is_error, result
    answer = result.structured_content
    assert answer["grounded"] is True
    assert "1987" in answer["answer"]
    assert [c["document_id"] for c in answer["citations"]] == [doc_id]


def test_http_session_lists_tools_and_asks(live: dict[str, str]) -> None:
    anyio.run(_http_session, live)


async def _http_session(live: dict[str, str]) -> None:
    async with _http(live["base"], live["acme"]) as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} == TOOLS
        _check_ask(
            await client.call_tool("ask", {"question": "When was the lighthouse automated?"}),
            live["doc_id"],
        )
        listed = await client.call_tool("list_documents", {})
        assert listed.structured_content["total"] == 1
        doc = await client.call_tool("get_document", {"document_id": live["doc_id"]})
        assert doc.structured_content["title"] == "Skerrow"
        hits = await client.call_tool("search", {"query": "lighthouse keeper", "top_k": 3})
        assert hits.structured_content["result"][0]["document_id"] == live["doc_id"]


def test_http_tools_act_as_the_callers_tenant(live: dict[str, str]) -> None:
    anyio.run(_other_tenant, live)


async def _other_tenant(live: dict[str, str]) -> None:
    async with _http(live["base"], live["other"]) as client:
        listed = await client.call_tool("list_documents", {})
        assert listed.structured_content["total"] == 0
        missing = await client.call_tool("get_document", {"document_id": live["doc_id"]})
        assert missing.is_error
        assert "not_found" in missing.content[0].text
        answer = await client.call_tool("ask", {"question": "When was the lighthouse automated?"})
        assert answer.structured_content["grounded"] is False


def test_http_without_credentials_is_a_401_problem(live: dict[str, str]) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(live["base"] + "/mcp", json=body, timeout=10)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = httpx.post(
        live["base"] + "/mcp", json=body, headers={"X-API-Key": "rgd_nope_nope"}, timeout=10
    )
    assert r.status_code == 401


def test_stdio_session_lists_tools_and_asks(live: dict[str, str], env: dict[str, str]) -> None:
    anyio.run(_stdio_session, live, env)


async def _stdio_session(live: dict[str, str], env: dict[str, str]) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "ragd.cli", "mcp"],
        env={**env, "RAGD_MCP_API_KEY": live["acme"]},
    )
    async with Client(params) as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} == TOOLS
        _check_ask(
            await client.call_tool("ask", {"question": "When was the lighthouse automated?"}),
            live["doc_id"],
        )


def test_stdio_refuses_to_start_without_a_key_when_auth_is_on(env: dict[str, str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ragd.cli", "mcp"],
        env={k: v for k, v in env.items() if k != "RAGD_MCP_API_KEY"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 1
    assert "needs an API key" in r.stderr
