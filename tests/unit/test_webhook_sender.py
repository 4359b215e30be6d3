"""HttpWebhookSender against real sockets on loopback: the address guard, the pinned
address with the original Host header, and the worst receivers (one that never answers,
one that answers an endless error body, one that redirects)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ragd.adapters.webhooks.sender import ERROR_BODY_BYTES, HttpWebhookSender
from ragd.errors import InvalidRequest

seen: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen.append({"path": self.path, "host": self.headers["Host"], "body": body})
        if self.path == "/hang":
            time.sleep(3)
        elif self.path == "/flood":
            self.send_response(500)
            self.end_headers()
            try:
                for _ in range(10_000):  # 640 MB if anyone read it all
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
            return
        elif self.path == "/redirect":
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/")
            self.end_headers()
            return
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
    ],
)
def test_private_addresses_are_refused_by_default(url: str) -> None:
    sender = HttpWebhookSender(timeout_s=1, allow_private=False)
    with pytest.raises(InvalidRequest, match="private or local"):
        sender.check_url(url)
    result = sender.send(url, {}, b"{}")
    assert result.status is None and "private or local" in (result.error or "")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http"),
        ("http:///nohost", "host"),
        ("http://u:p@127.0.0.1/x", "credentials"),
        ("http://127.0.0.1:99999/x", "port"),
        ("http://" + "a" * 2000 + ".com/", "characters"),
        ("http://no-such-host.invalid/x", "resolve"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        HttpWebhookSender(timeout_s=1, allow_private=True).check_url(url)


def test_sends_to_the_checked_address_with_the_original_host(port: int) -> None:
    seen.clear()
    sender = HttpWebhookSender(timeout_s=2, allow_private=True)
    result = sender.send(f"http://localhost:{port}/ok?x=1", {"X-Test": "1"}, b'{"a":1}')
    assert result.ok and result.status == 204
    assert seen[-1] == {"path": "/ok?x=1", "host": f"localhost:{port}", "body": b'{"a":1}'}


def test_worst_receivers_cost_bounded_time_and_memory(port: int) -> None:
    sender = HttpWebhookSender(timeout_s=0.5, allow_private=True)
    started = time.monotonic()
    hung = sender.send(f"http://127.0.0.1:{port}/hang", {}, b"{}")
    assert hung.status is None and "no answer within 0.5s" in (hung.error or "")
    assert time.monotonic() - started < 2
    flood = sender.send(f"http://127.0.0.1:{port}/flood", {}, b"{}")
    assert flood.status == 500 and len(flood.error or "") <= ERROR_BODY_BYTES + 20
    moved = sender.send(f"http://127.0.0.1:{port}/redirect", {}, b"{}")
    assert moved.status == 307 and not moved.ok  # not followed
