"""Shared fixtures: real SQLite files in tmp dirs, a fresh tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import Services, build_services, migrate_database
from tests.private_postgres import PrivatePostgres


@pytest.fixture
def tenant() -> TenantId:
    return TenantId(f"t-{uuid.uuid4().hex[:12]}")


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Embedded settings isolated in ``data_dir``; the hashing embedder unless overridden,
    because most pipeline tests are about plumbing, and the real model is exercised by the
    tests marked slow. The embedded worker runs on a thread, in the test's own process
    (starting a process per app would cost every API test a second); the tests of a live
    ``ragd serve`` run the default, a child process."""
    base: dict[str, object] = {
        "embedded_worker_mode": "thread",
        "data_dir": data_dir,
        "database_url": None,
        "embedding_model": "hashing-64",
        "job_backoff_seconds": 0.0,
        "worker_poll_seconds": 0.05,
        "chunk_tokens": 64,
        "chunk_overlap": 8,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    migrate_database(settings)
    svc = build_services(settings)
    yield svc
    svc.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test only (for tests that restart or crash it)."""
    pg = PrivatePostgres().init()
    pg.start()
    yield pg
    pg.close()
