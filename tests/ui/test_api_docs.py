"""``/docs`` and ``/redoc`` in a real browser: they render the API from this server alone,
under their Content-Security-Policy, with no request to any other origin and no policy
violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import playwright_expect

expect = playwright_expect()

pytestmark = [pytest.mark.ui, pytest.mark.slow]

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _rendered(page: Any, path: str) -> Any:
    """An element that exists only once the page's script has read the OpenAPI schema."""
    if path == "/docs":
        return page.locator(".opblock-summary-path", has_text="/api/v1/documents").first
    return page.get_by_role("heading", name="List documents, newest first").first


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_render_offline_under_their_policy(
    start_server: Any, page: Any, path: str
) -> None:
    server, _env = start_server()
    elsewhere: list[str] = []
    violations: list[str] = []

    def only_this_server(route: Any) -> None:
        url = route.request.url
        if url.startswith(server.base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", only_this_server)
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(server.base + path)
    expect(_rendered(page, path)).to_be_visible()
    page.wait_for_timeout(500)  # late requests (workers, fonts) and their violations
    assert not elsewhere, f"{path} asked other origins: {elsewhere}"
    # ReDoc's footer shows Redocly's logo from its CDN; the policy stops it and the image
    # hides itself on the error. Anything else the policy had to stop is a bug.
    violations = [v for v in violations if REDOCLY_LOGO not in v]
    assert not violations, f"{path} broke its own policy: {violations}"
