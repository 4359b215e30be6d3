"""The web UI: a static vanilla-JS app (ES modules, no build step, no third-party code).

Why not server-rendered templates with htmx: every page of the UI is a view of the JSON API
that is already there, and the API authenticates each call with a header (``Authorization:
Bearer`` API key or JWT), not a cookie. A browser app that keeps the key in
``sessionStorage`` and calls the API itself needs no second set of routes, no session
cookies (so no CSRF surface), and no server-side rendering; streaming answers need
``fetch`` + a Server-Sent Events parser in JavaScript anyway. At about a thousand lines of
plain modules the app stays small enough that a framework or a vendored library would add
more than it saves, and nothing has to be fetched from a CDN or a registry at run time or
build time.

``install(app)`` adds ``GET /`` (the app shell, ``index.html``) and the assets under
``/ui/``. Both are public: the pages hold no data, and every API call they make carries the
caller's credential. They are kept out of the OpenAPI schema, which lists the API only.
The shell is sent with a strict Content-Security-Policy (scripts, styles and connections
from this origin only), so an injected string can never run as script and read the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # blob: for image chunks' pictures, fetched with the credential (an <img src> cannot
        # send it) and shown from an object URL this page created.
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """Static files that browsers revalidate (ETag) on every load, so an upgraded ragd
    never runs with yesterday's JavaScript."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    """Serve the UI at ``/`` and its assets at ``/ui/`` (outside the OpenAPI schema)."""
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def ui_index() -> HTMLResponse:
        return HTMLResponse(index, headers=SECURITY_HEADERS)

    app.mount("/ui", _Assets(directory=STATIC_DIR), name="ui")
