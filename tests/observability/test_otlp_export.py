"""With OTEL_EXPORTER_OTLP_ENDPOINT set, the app's spans reach a collector over OTLP/HTTP.

The collector is a local HTTP server decoding the exporter's protobuf; the spans are
flushed when the app shuts down, so the test waits for nothing but that.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.api.conftest import BEES
from tests.fakes.otlp_server import FakeCollector
from tests.observability.conftest import client, ingest


def test_spans_are_exported_to_the_configured_endpoint(tmp_path: Path) -> None:
    with FakeCollector() as collector:
        started = time.monotonic()
        with client(
            tmp_path / "d",
            otel_exporter_otlp_endpoint=collector.root_url + "/",
            otel_service_name="ragd-otlp-test",
        ) as c:
            ingest(c, {}, BEES)
            assert c.post("/api/v1/search", json={"query": "waggle dance"}).status_code == 200
        assert time.monotonic() - started < 15
        spans = collector.spans()
    assert spans, "nothing was exported"
    assert {resource["service.name"] for resource, _ in spans} == {"ragd-otlp-test"}
    names = {span.name for _, span in spans}
    assert {"POST /api/v1/search", "auth", "embed", "search"} <= names
    [search] = [s for _, s in spans if s.name == "POST /api/v1/search"]
    children = {s.name for _, s in spans if s.parent_span_id == search.span_id}
    assert {"auth", "embed", "search"} <= children
    assert all(r.path == "/v1/traces" for r in collector.requests)


def test_tracing_enabled_false_exports_nothing(tmp_path: Path) -> None:
    with FakeCollector() as collector:
        with client(
            tmp_path / "d", otel_exporter_otlp_endpoint=collector.root_url, tracing_enabled=False
        ) as c:
            c.post("/api/v1/search", json={"query": "waggle dance"})
        assert collector.requests == []
