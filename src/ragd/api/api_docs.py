"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served offline under a strict CSP.

FastAPI's own pages load their scripts and styles from a public CDN, which fails on a
server without Internet access and would need a policy that trusts that CDN. The same
pages here load the copies that the ``fastapi-offline`` package ships, from
``/docs/static/``; the one inline script Swagger UI needs is allowed by its hash, so the
policy has no ``'unsafe-inline'`` for scripts and trusts no other origin. Styles do allow
``'unsafe-inline'``: both UIs set styles from script at run time, and a style cannot run
code. ReDoc runs its search index in a worker it builds from a ``blob:`` URL.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ragd.api.security_headers import HEADERS

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/static"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def policy(html: str, *, workers: bool = False) -> str:
    """The page's CSP: this origin only, plus the hash of each inline script it holds."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    directives = [
        "default-src 'none'",
        f"script-src 'self' {hashes}".strip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        *(["worker-src blob:"] if workers else []),
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


def _page(response: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    html = bytes(response.body).decode()
    headers = {**HEADERS, "Content-Security-Policy": policy(html, workers=workers)}
    return HTMLResponse(html, headers={**headers, "Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Add the two pages and their assets (create the app with ``docs_url=None`` and
    ``redoc_url=None`` so FastAPI does not add its CDN versions)."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                # No badge from the public validator service: the page calls nothing else.
                swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _page(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            ),
            workers=True,
        )
