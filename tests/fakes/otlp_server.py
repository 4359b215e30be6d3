"""A fake OpenTelemetry collector: OTLP/HTTP with protobuf bodies on 127.0.0.1.

``POST /v1/traces`` takes an ``ExportTraceServiceRequest`` (gzip-compressed when the
exporter says so) and answers an empty ``ExportTraceServiceResponse``, as a collector does.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.fakes.http_base import FakeHandler, FakeServer, RecordedRequest, Reply, Route


def _export(handler: FakeHandler, _body: Any) -> None:
    handler.send_reply(
        Reply.raw(
            ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )
    )


class FakeCollector(FakeServer):
    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", "/v1/traces"): _export}

    def exports(self) -> list[ExportTraceServiceRequest]:
        return [decode(r) for r in self.requests_to("/v1/traces")]

    def spans(self) -> list[tuple[dict[str, str], Span]]:
        """Every span received, with the string attributes of its resource."""
        out = []
        for export in self.exports():
            for rs in export.resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                out.extend((resource, span) for ss in rs.scope_spans for span in ss.spans)
        return out


def decode(request: RecordedRequest) -> ExportTraceServiceRequest:
    assert request.headers.get("content-type") == "application/x-protobuf"
    raw = request.raw
    if request.headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    return ExportTraceServiceRequest.FromString(raw)
