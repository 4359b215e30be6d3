"""The HTTP/1.1 protocol ``ragd serve`` runs: uvicorn's h11 protocol, answering oversized
request headers with 431 instead of dropping the connection.

Uvicorn bounds a request's head with h11's ``max_incomplete_event_size`` but answers any
parse failure with a plain-text 400 and closes the socket at once, while the client is
still sending: the kernel then resets the connection and the client reads no answer at all.
Here a head over ``MAX_REQUEST_HEADER_BYTES`` gets a 431 problem+json, then the server
stops writing and reads on, discarding, until the client has sent what it meant to
(``LINGER_SECONDS`` or ``LINGER_MAX_BYTES`` at most), so that the answer arrives.

``ragd serve`` always uses this protocol (never httptools, whose parser has no such bound).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from ragd.api.problems import MEDIA_TYPE, PROBLEM_BASE
from ragd.api.security_headers import HEADERS

MAX_REQUEST_HEADER_BYTES = 64 * 1024
"""Request line and headers together; far above any real client's (browsers and proxies
cap theirs at 8 to 64 KiB)."""
LINGER_SECONDS = 5.0
LINGER_MAX_BYTES = 16 * 1024 * 1024

log = logging.getLogger("ragd.api")


class _Connection(h11.Connection):
    """h11's connection, remembering the last protocol error so the answer can use the
    status h11 suggests for it (431 for a head that is too large)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise


class RagdH11Protocol(H11Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _Connection(
            h11.SERVER, config.h11_max_incomplete_event_size or MAX_REQUEST_HEADER_BYTES
        )
        self._lingering: asyncio.TimerHandle | None = None
        self._discarded = 0

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self.transport.close()
            return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error if isinstance(self.conn, _Connection) else None
        if error is None or error.error_status_hint != 431:
            super().send_400_response(msg)
            return
        limit = self.config.h11_max_incomplete_event_size or MAX_REQUEST_HEADER_BYTES
        body = json.dumps(
            {
                "type": PROBLEM_BASE + "request_header_fields_too_large",
                "title": "Request Header Fields Too Large",
                "status": 431,
                "detail": f"the request line and headers are larger than {limit} bytes",
                "code": "request_header_fields_too_large",
            }
        ).encode()
        headers = [
            ("Content-Type", MEDIA_TYPE),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *HEADERS.items(),
        ]
        response = h11.Response(
            status_code=431, headers=headers, reason=b"Request Header Fields Too Large"
        )
        events = (response, h11.Data(data=body), h11.EndOfMessage())
        self.transport.write(b"".join(self.conn.send(e) or b"" for e in events))
        self._linger()

    def _linger(self) -> None:
        """Stop writing, keep reading (and dropping) until the client is done or the
        bounds pass; then close."""
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._lingering is not None:
            self.transport.close()
            return
        super().shutdown()
