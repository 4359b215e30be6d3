"""Apps traced into an in-memory exporter, and a key-authenticated tenant to call them with."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ragd.api.app import create_app
from tests.conftest import make_settings


class Traces:
    """A provider of one's own (never the global one) and the spans it finished."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def traces() -> Iterator[Traces]:
    t = Traces()
    yield t
    t.provider.shutdown()


def client(
    data_dir: Path, *, tracer_provider: TracerProvider | None = None, **overrides: object
) -> TestClient:
    settings = make_settings(data_dir, **overrides)
    app = create_app(settings, tracer_provider=tracer_provider)
    return TestClient(app, raise_server_exceptions=False)


def new_tenant(c: TestClient) -> tuple[str, dict[str, str]]:
    """A fresh tenant and the headers that authenticate as its administrator."""
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    key = c.app.state.services.account_admin.create_tenant(tenant).key.plaintext  # type: ignore[attr-defined]
    return tenant, {"X-API-Key": key}


def ingest(c: TestClient, headers: dict[str, str], *texts: str) -> None:
    """Upload texts and wait until the embedded worker has indexed them."""
    ids = [
        c.post("/api/v1/documents", json={"text": t}, headers=headers).json()["id"] for t in texts
    ]
    deadline = time.monotonic() + 30
    for doc in ids:
        while (status := _status(c, doc, headers)) != "indexed":
            assert status != "failed" and time.monotonic() < deadline, status
            time.sleep(0.05)


def _status(c: TestClient, doc: str, headers: dict[str, str]) -> Any:
    return c.get(f"/api/v1/documents/{doc}", headers=headers).json()["status"]
