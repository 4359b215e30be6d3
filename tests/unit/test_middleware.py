"""The request-context middleware on its own: request slots and size limits."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ragd.api.middleware import RequestContext
from ragd.errors import Overloaded


def run(coro: Any) -> Any:
    """``asyncio.run`` on a thread of its own: another test module (Playwright's sync API)
    may keep an event loop running on the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _scope(
    path: str = "/api/v1/query", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {"type": "http", "path": path, "method": "POST", "headers": headers or []}


async def _call(
    mw: RequestContext, scope: dict[str, Any], body: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), payload


def test_full_server_refuses_at_once_with_503_and_retry_after() -> None:
    """Slots are claimed once the caller is known (``api.deps`` calls ``claim_slot``): a
    full server refuses the next claim at once; requests that claim nothing still pass."""
    release = asyncio.Event()
    refused: list[Overloaded] = []

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        try:
            scope["state"]["claim_slot"]()
        except Overloaded as exc:  # what the problem handler turns into a 503
            refused.append(exc)
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def anonymous_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = RequestContext(slow_app, limit_for=lambda p, m: 1024, max_concurrent=2)

    async def scenario() -> list[Any]:
        first = [asyncio.create_task(_call(mw, _scope())) for _ in range(2)]
        await asyncio.sleep(0.01)
        status, _, _ = await asyncio.wait_for(_call(mw, _scope()), timeout=1)
        assert status == 503 and refused[0].retry_after_seconds == 1
        assert refused[0].code == "overloaded"
        mw.app = anonymous_app  # a stranger's request takes no slot, full or not
        assert (await _call(mw, _scope()))[0] == 401
        mw.app = slow_app
        release.set()
        done = await asyncio.gather(*first)
        return [s for s, _, _ in done]

    assert run(scenario()) == [200, 200]
    assert mw.in_flight == 0


def test_probes_pass_when_full_and_big_bodies_get_413() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = RequestContext(app, limit_for=lambda p, m: 10, max_concurrent=1)
    mw.in_flight = 1  # as if one request were running
    status, _, _ = run(_call(mw, _scope("/health")))
    assert status == 200
    mw.in_flight = 0
    status, _, body = run(_call(mw, _scope(headers=[(b"content-length", b"11")]), b"x" * 11))
    assert status == 413 and json.loads(body)["code"] == "payload_too_large"
    status, _, _ = run(_call(mw, _scope(), b"x" * 11))  # no content-length: counted
    assert status == 413
    assert run(_call(mw, _scope(), b"small"))[0] == 200
