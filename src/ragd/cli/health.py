"""``ragd health [--detailed] [--url URL]``: the health checks from a shell in the pod.

The image has no curl, so ``kubectl exec … -- ragd health --detailed`` runs the checks
of ``GET /ready`` (plain) or ``GET /health/detailed`` in-process, on services built from
the pod's own configuration, or asks a running server over HTTP with ``--url``. It prints
the JSON body either way and exits 1 when the endpoint would answer 503 (or cannot be
reached), 0 otherwise (a degraded LLM chain still serves answers).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ragd.cli.common import print_json
from ragd.config import get_settings

DetailedOpt = Annotated[
    bool,
    typer.Option("--detailed", help="Every dependency with its latency (/health/detailed)."),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Ask a running server (e.g. http://127.0.0.1:8000) instead of in-process."
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds, over HTTP.")]


def health(detailed: DetailedOpt = False, url: UrlOpt = None, timeout: TimeoutOpt = 10.0) -> None:
    """Check ragd's health (the /ready or /health/detailed checks) and print JSON; exit 1
    when unhealthy."""
    status, body = _over_http(url, detailed, timeout) if url else _in_process(detailed)
    print_json(body)
    if status >= 400:
        raise typer.Exit(code=1)


def _over_http(url: str, detailed: bool, timeout: float) -> tuple[int, Any]:
    import httpx

    path = "/health/detailed" if detailed else "/health"
    try:
        response = httpx.get(url.rstrip("/") + path, timeout=timeout)
    except httpx.HTTPError as exc:
        return 503, {"status": "down", "error": f"{type(exc).__name__}: {exc}", "url": url}
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"status": response.status_code, "body": response.text}


def _in_process(detailed: bool) -> tuple[int, Any]:
    from ragd.api.routes import health as routes
    from ragd.services.container import build_services

    settings = get_settings()  # a refused configuration exits 3, like every command
    try:
        services = build_services(settings)
    except Exception as exc:  # a health check reports failures, it does not raise them
        return 503, {"status": "down", "error": f"{type(exc).__name__}: {exc}"}
    try:
        if detailed:
            response = routes.health_detailed(services)
            return response.status_code, json.loads(bytes(response.body))
        ready = routes.ready(services)
        if isinstance(ready, dict):
            return 200, {**routes.alive(), **ready}
        return ready.status_code, json.loads(bytes(ready.body))
    finally:
        services.close()
