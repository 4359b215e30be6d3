"""Browser tests of the web UI: a live ``ragd serve`` driven by Playwright in Debian's
Chromium (``/usr/bin/chromium``; Playwright never downloads a browser here). Install both
with ``bash scripts/install-ui-test-deps.sh``. Screenshots of each main page go to
``test-artifacts/screenshots/`` for a person to look at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.live import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _missing(what: str) -> NoReturn:
    """Skip, or fail where the test command promises everything is installed."""
    message = f"{what} is missing: run `bash scripts/install-ui-test-deps.sh`"
    if os.environ.get("RAGD_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


def playwright_expect() -> Any:
    """Playwright's ``expect`` (for a test module's top level)."""
    try:
        from playwright.sync_api import expect
    except ImportError:
        _missing("the playwright Python package")
    return expect


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_expect()
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        _missing(str(CHROMIUM))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "RAGD_AUTH")
    }
    env.update(
        RAGD_DATA_DIR=str(data_dir),
        EMBEDDING_MODEL="hashing-256",
        RAGD_WORKER_POLL_SECONDS="0.1",
        RAGD_JOB_BACKOFF_SECONDS="0",
        LOG_LEVEL="warning",
        **extra,
    )
    return env


def ragd_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run a ``ragd`` command that prints JSON (``ragd admin ...``) and return it."""
    out = subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``start_server(**env)`` -> (Server, env): a live ``ragd serve`` on a free loopback
    port with its own data dir; stopped when the module is done."""
    servers: list[Server] = []

    def start(**extra: str) -> tuple[Server, dict[str, str]]:
        env = server_env(tmp_path_factory.mktemp("ui-serve"), **extra)
        servers.append(Server(env, Path(env["RAGD_DATA_DIR"]) / "serve.log"))
        return servers[-1], env

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
