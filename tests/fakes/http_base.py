"""What the fake provider servers share: a real HTTP/1.1 server on 127.0.0.1 in a thread,
request recording, scripted replies (errors, raw bytes, hangs) and chunked streaming.

The same structure as ``tests.fakes.openai_server``, factored out so that each provider's
fake (Anthropic, Ollama, the embedding and rerank APIs) only writes its routes, its
authentication and its error body. A provider fake subclasses :class:`FakeServer`:

* ``routes()`` maps ``(method, path)`` to a function ``(handler, body) -> None`` that
  answers through the handler's helpers (``send_json``, ``stream``);
* ``auth_error(handler)`` returns a ``Reply`` when the request's credentials are wrong;
* ``error_reply(status, message)`` builds the provider's error body (used for 404s).

Scripted replies (:meth:`FakeServer.enqueue`) answer the next requests that reach a
route and pass authentication, in order; without a script the route answers.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[["FakeHandler", Any], None]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The parsed JSON body, ``None`` when there was none or it was not JSON."""
    raw: bytes = b""
    """The body as received (protobuf, compressed envelopes)."""


@dataclass(frozen=True)
class Reply:
    """A scripted answer to one request."""

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    """Wait this long (or until the server stops), then close without answering."""

    @classmethod
    def json(cls, status: int, payload: Any, *, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status=status, body=json.dumps(payload).encode(), headers=dict(headers or {}))

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Exactly these bytes (for malformed responses and hand-written streams)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status=status, body=data, content_type=content_type, headers=dict(headers or {}))

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Never answer (until ``seconds`` pass or the server stops)."""
        return cls(hang_seconds=seconds)


class FakeServer:
    """Lifecycle, recording and scripting; subclasses add the provider's routes."""

    def __init__(self, *, api_key: str | None = None, chunk_delay: float = 0.0) -> None:
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self.aborted_streams = 0
        """Streams whose client went away before the server finished writing."""
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._aborted = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- provider hooks ----------------------------------------------------------------

    def routes(self) -> Mapping[tuple[str, str], Route]:
        raise NotImplementedError

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        return None

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.json(status, {"error": message})

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeServer:
        fake = self

        class Handler(FakeHandler):
            server_fake = fake

        httpd = _QuietServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting and inspection ------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next routed, authenticated requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests, scripted replies and aborted streams."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.aborted_streams = 0
            self._aborted.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def wait_for_aborted_stream(self, timeout: float = 5.0) -> bool:
        return self._aborted.wait(timeout)

    # -- used by the handler -----------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def note_aborted(self) -> None:
        with self._lock:
            self.aborted_streams += 1
        self._aborted.set()


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up (an early-closed stream, a timed-out client) is normal here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are dropped after this
    # Headers and body go out in separate writes; with Nagle's algorithm the body then
    # waits for the client's delayed ACK (40 ms a request on Linux loopback).
    disable_nagle_algorithm = True
    server_fake: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows stderr of failing tests

    def do_GET(self) -> None:
        self._dispatch(None, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._dispatch(body, raw)

    def _dispatch(self, body: Any, raw: bytes) -> None:
        fake = self.server_fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake.record(RecordedRequest(self.command, self.path, headers, body, raw))
        route = fake.routes().get((self.command, self.path.split("?", 1)[0]))
        if route is None:
            self.send_reply(fake.error_reply(404, f"no route for {self.command} {self.path}"))
            return
        refused = fake.auth_error(self)
        if refused is not None:
            self.send_reply(refused)
            return
        scripted = fake.next_reply()
        if scripted is not None:
            self.send_reply(scripted)
            return
        route(self, body)

    # -- answering ---------------------------------------------------------------------

    def send_reply(self, reply: Reply) -> None:
        if reply.hang_seconds:
            self.server_fake.stopping.wait(reply.hang_seconds)
            self.close_connection = True
            return
        data = reply.body or b""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(
        self, status: int, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_reply(Reply.json(status, payload, headers=headers))

    def stream(self, content_type: str, pieces: Iterable[bytes]) -> None:
        """A 200 answer in chunked transfer encoding, one chunk per piece, with the
        server's ``chunk_delay`` between them; a client that hangs up is counted."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for piece in pieces:
                self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
                if self.server_fake.chunk_delay:
                    time.sleep(self.server_fake.chunk_delay)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except ConnectionError:  # BrokenPipeError, ConnectionResetError
            self.server_fake.note_aborted()
            self.close_connection = True

    def bearer(self) -> str | None:
        """The bearer token of the request, if any."""
        value = self.headers.get("Authorization", "")
        return value.removeprefix("Bearer ").strip() if value.startswith("Bearer ") else None


def words(text: str) -> list[str]:
    """The fakes' tokenizer: one token per whitespace-separated word."""
    return text.split()
