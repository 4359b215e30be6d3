"""``/metrics`` on a port of its own (``METRICS_PORT``), for scrapers that expect one (a
``prometheus.io/port: "9090"`` annotation, a NetworkPolicy that admits the monitoring
namespace to that port only).

The app's lifespan starts it in each uvicorn worker process, on a thread of its own, so a
scrape is answered while the event loop is busy, and it answers exactly what the app
port's ``/metrics`` does (``render``: the shared gauges refreshed, then the exposition).
With several workers every one binds the port with ``SO_REUSEPORT`` (the kernel spreads
the scrapes) and each answers for all of them: ``ragd serve`` runs them in prometheus_client's
multiprocess mode (``ragd.observability.metrics``). A port that cannot be bound stops the
start: a metrics port that silently is not there would look like a dead server.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger("ragd.api")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], render: Callable[[], bytes], *, shared: bool):
        self.allow_reuse_port = shared  # several workers of one server bind the same port
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.render = render
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._answer(404, b"only /metrics is served on this port\n", "text/plain")
            return
        try:
            body = self.server.render()
        except Exception:  # a scrape reports failure, it does not kill the thread
            log.exception("metrics port: the scrape failed")
            self._answer(500, b"the scrape failed; see the server log\n", "text/plain")
            return
        self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, status: int, body: bytes, media_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return  # one line per scrape would drown the log (the app port skips them too)


class MetricsServer:
    """A running metrics listener; ``close`` stops it."""

    def __init__(
        self, host: str, port: int, render: Callable[[], bytes], *, shared: bool = False
    ) -> None:
        try:
            self._server = _Server((host, port), render, shared=shared)
        except OSError as exc:
            raise OSError(
                exc.errno, f"METRICS_PORT={port}: cannot listen on {host}:{port} ({exc.strerror})"
            ) from exc
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ragd-metrics-port", daemon=True
        )
        self._thread.start()
        log.info("metrics: /metrics also on %s:%d", host, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
