"""With SENTRY_DSN set, an endpoint that raises produces a Sentry event, without secrets.

The DSN points at a local HTTP server that receives the SDK's envelopes in their real
wire format (compressed, newline-delimited); the app's own exception path (no patching)
reports the error. The exception message, the frame's local variables and the request
headers all held the caller's API key and a configured provider key; none may arrive.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import Request
from fastapi.testclient import TestClient

from ragd.api.app import create_app
from ragd.api.deps import Reader
from tests.conftest import make_settings
from tests.fakes.sentry_server import FakeSentry

PROVIDER_KEY = "sk-test-provider-secret-0123456789"
QUESTION = "what is the private question nobody may read"


def test_an_unexpected_error_reaches_sentry_scrubbed(tmp_path: Path) -> None:
    with FakeSentry() as sentry:
        settings = make_settings(
            tmp_path / "d", auth="required", sentry_dsn=sentry.dsn, openai_api_key=PROVIDER_KEY
        )
        app = create_app(settings)

        @app.post("/boom")
        def boom(principal: Reader, request: Request) -> None:
            presented = request.headers["x-api-key"]
            raise RuntimeError(f"provider refused {PROVIDER_KEY} while serving {presented}")

        with TestClient(app, raise_server_exceptions=False) as c:
            key = c.app.state.services.account_admin.create_tenant("acme").key.plaintext  # type: ignore[attr-defined]
            r = c.post("/boom", json={"question": QUESTION}, headers={"X-API-Key": key})
            assert r.status_code == 500
        deadline = time.monotonic() + 5  # shutdown flushed the queue; allow for the thread
        while not sentry.events() and time.monotonic() < deadline:
            time.sleep(0.05)
        events = sentry.events()
        raw = b"".join(sentry.envelopes())
    assert len(events) == 1
    [exc] = events[0]["exception"]["values"]
    assert exc["type"] == "RuntimeError" and "[redacted]" in exc["value"]
    assert events[0]["environment"] == "development"
    # ragd_<public prefix>_<secret>: the secret part whole (token_urlsafe secrets contain
    # '_', so whatever follows the last underscore can be one character that matches anywhere)
    private = key.split("_", 2)[2]
    assert len(private) >= 32
    for secret in (key, private, PROVIDER_KEY, QUESTION):
        assert secret.encode() not in raw, secret
    frames = exc["stacktrace"]["frames"]
    assert any(f.get("function") == "boom" for f in frames)
    assert "user" not in events[0] or "ip_address" not in events[0]["user"]
