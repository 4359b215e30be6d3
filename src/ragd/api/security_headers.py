"""Browser-facing security headers on every response, as plain ASGI middleware.

The API's responses are JSON, problem+json or an event stream: nothing in them should ever
run, be framed or be sniffed into HTML, so the default policy forbids everything
(``default-src 'none'``). Pages that need more set their own ``Content-Security-Policy``
(the web UI in ``api/ui/mount.py``, the API docs in ``api/api_docs.py``); a header a
response already has is left as it is.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": API_CSP,
}
"""Every response's, unless it sets its own value."""


class SecurityHeaders:
    """Adds each of ``HEADERS`` that a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self._headers if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
