"""An app over a real SQLite file with its embedded worker, driven through ASGI (httpx)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def backend_client(
    request: pytest.FixtureRequest, data: Path, **common: object
) -> Iterator[TestClient]:
    """A client on SQLite, or (``request.param == "postgres"``) on Postgres + pgvector in a
    fresh schema, connected as the restricted role row-level security applies to, with the
    embedded worker: for module fixtures parametrised ``["sqlite", "postgres"]``."""
    if request.param == "sqlite":
        with make_client(data, **common) as c:
            yield c
        return
    from tests.contract.conftest import PgTestDatabase, pg_schema, with_search_path

    pgdb: PgTestDatabase = request.getfixturevalue("pg_session_database")
    with (
        pg_schema(pgdb) as schema,
        make_client(
            data,
            database_url=with_search_path(pgdb.app_url, schema),
            vector_store_type="pgvector",
            embedded_worker=True,
            **common,
        ) as c,
    ):
        yield c


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
