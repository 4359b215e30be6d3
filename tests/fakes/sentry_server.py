"""A fake Sentry ingest endpoint: envelopes over HTTP on 127.0.0.1.

The SDK posts to ``/api/<project>/envelope/`` with an ``X-Sentry-Auth`` header naming the
DSN's public key, a body that is gzip- or brotli-compressed (``Content-Encoding``), and
the envelope format: a JSON header line, then per item a JSON item header line and its
payload (``length`` bytes when the header gives it, else up to the next newline).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import Any

from tests.fakes.http_base import FakeHandler, FakeServer, RecordedRequest, Reply, Route

PUBLIC_KEY = "0123456789abcdef0123456789abcdef"


class FakeSentry(FakeServer):
    def __init__(self, *, project: int = 1) -> None:
        super().__init__()
        self.project = project

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.port}/{self.project}"

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", f"/api/{self.project}/envelope/"): _accept}

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        auth = handler.headers.get("X-Sentry-Auth", "")
        if f"sentry_key={PUBLIC_KEY}" not in auth:
            return Reply.json(401, {"detail": "bad sentry_key"})
        return None

    def envelopes(self) -> list[bytes]:
        """The decompressed bodies received."""
        return [body(r) for r in self.requests_to(f"/api/{self.project}/envelope/")]

    def events(self) -> list[dict[str, Any]]:
        """The error events of every envelope."""
        return [
            payload
            for envelope in self.envelopes()
            for header, payload in items(envelope)
            if header.get("type") == "event"
        ]


def _accept(handler: FakeHandler, _body: Any) -> None:
    handler.send_json(200, {})


def body(request: RecordedRequest) -> bytes:
    encoding = request.headers.get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(request.raw)
    if encoding == "br":
        import brotli  # the SDK compresses with brotli only when it is installed

        return bytes(brotli.decompress(request.raw))
    return request.raw


def items(envelope: bytes) -> list[tuple[dict[str, Any], Any]]:
    """(item header, payload) pairs; JSON payloads parsed, others left as bytes."""
    _, _, rest = envelope.partition(b"\n")
    out = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            raw, rest = rest[: header["length"]], rest[header["length"] :].removeprefix(b"\n")
        else:
            raw, _, rest = rest.partition(b"\n")
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = raw
        out.append((header, payload))
    return out
