"""A small real web site for the web source's tests: ``http.server`` on loopback, in a thread.

What a crawler meets on real sites, each on purpose: a ``robots.txt`` that disallows a
folder, a ``sitemap.xml``, a permanent redirect, a link to a 404, pages whose content the
test changes between runs (with an ``ETag`` and ``Last-Modified``, answering conditional
requests with 304), a page reached under a tracking query that names its canonical URL,
an infinite calendar (each month links to the next: a crawler trap), a slow page, and a
switch that makes the whole site hang (a site that times out).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def html(title: str, body: str, links: list[str] = (), canonical: str | None = None) -> str:  # type: ignore[assignment]
    anchors = "".join(f'<li><a href="{u}">{u}</a></li>' for u in links)
    canon = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>{canon}</head>"
        f"<body><h1>{title}</h1><p>{body}</p><ul>{anchors}</ul></body></html>"
    )


@dataclass
class Site:
    """The pages by path; tests edit ``pages`` (and ``redirects``) between runs."""

    pages: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    robots: str = "User-agent: *\nDisallow: /private/\n"
    sitemap: list[str] = field(default_factory=list)
    slow_paths: set[str] = field(default_factory=set)
    slow_seconds: float = 5.0
    hang_everything: bool = False
    calendar: bool = True
    requests: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    modified: dict[str, float] = field(default_factory=dict)
    base: str = ""

    def set_page(self, path: str, content: str) -> None:
        self.pages[path] = content
        self.modified[path] = time.time()


class _Handler(BaseHTTPRequestHandler):
    site: Site
    stopping: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.site
        parts = urlsplit(self.path)
        path = parts.path
        site.requests[path] += 1
        if site.hang_everything:
            self.stopping.wait(60)
            return
        if path in site.slow_paths:
            self.stopping.wait(site.slow_seconds)
        if path == "/robots.txt":
            return self._send(200, site.robots.encode(), "text/plain")
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{site.base}{p}</loc></url>" for p in site.sitemap)
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            )
            return self._send(200, body.encode(), "application/xml")
        if path in site.redirects:
            self.send_response(301)
            self.send_header("Location", site.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/calendar" and site.calendar:
            month = int(parse_qs(parts.query).get("month", ["0"])[0])
            page = html(
                f"Calendar month {month}",
                f"Nothing happens in month {month}.",
                [f"/calendar?month={month + 1}", f"/calendar?month={month - 1}"],
            )
            return self._send(200, page.encode(), "text/html; charset=utf-8")
        content = site.pages.get(path)
        if content is None:
            return self._send(404, b"<html><body>not found</body></html>", "text/html")
        body = content.encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            site.not_modified[path] += 1
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(site.modified.get(path, 0), usegmt=True),
        }
        return self._send(200, body, "text/html; charset=utf-8", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        with suppress(OSError):
            self.wfile.write(body)


@contextmanager
def web_site(site: Site | None = None) -> Iterator[Site]:
    site = site or Site()
    stopping = threading.Event()
    handler = type("Handler", (_Handler,), {"site": site, "stopping": stopping})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


def standard_site(site: Site) -> Site:
    """Home, three articles, a redirect, a 404 link, a disallowed page, a canonical alias,
    and the calendar trap, linked from the home page."""
    site.set_page(
        "/",
        html(
            "Home",
            "Welcome to the zebra handbook.",
            [
                "/articles/one",
                "/articles/two?utm_source=newsletter",
                "/old-three",
                "/missing",
                "/private/secret",
                "/calendar?month=0",
                "mailto:someone@example.com",
                "https://elsewhere.example/offsite",
            ],
        ),
    )
    site.set_page("/articles/one", html("One", "Zebras have black and white stripes."))
    site.set_page(
        "/articles/two",
        html("Two", "Giraffes eat acacia leaves.", canonical="/articles/two"),
    )
    site.set_page("/articles/three", html("Three", "Okapis live in the Congo rainforest."))
    site.set_page("/private/secret", html("Secret", "Robots must never read this page."))
    site.redirects["/old-three"] = "/articles/three"
    site.set_page("/only-in-sitemap", html("Sitemap page", "Narwhals have one long tusk."))
    site.sitemap = ["/only-in-sitemap"]
    return site
