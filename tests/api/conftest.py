"""An app over a real SQLite file with its embedded worker, driven through ASGI (httpx)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragd.api.app import create_app
from tests.conftest import make_settings


def wait_indexed(client: TestClient, document_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = client.get(f"/api/v1/documents/{document_id}").json()
        if doc["status"] in ("indexed", "failed") or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


def make_client(data_dir: Path, **overrides: object) -> TestClient:
    settings = make_settings(data_dir, **overrides)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path / "data") as c:
        yield c


BEES = (
    "Honeybees perform a waggle dance to tell nest mates where flowers are. "
    "The duration of the waggle run encodes the distance to the food. "
    "The angle of the run relative to vertical encodes the direction relative to the sun."
)
TIDES = (
    "Tides are the regular rise and fall of the sea surface. "
    "They are caused mainly by the gravity of the Moon and, to a lesser degree, the Sun."
)
