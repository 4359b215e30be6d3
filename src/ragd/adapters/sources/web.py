"""A web site as a source: a breadth-first crawl from start URLs and/or a sitemap.

Rules of the crawl, each a bound on what a hostile or broken site can make ragd do:

- **same site** (default): only pages on the hosts of the start URLs and the sitemap;
  a redirect off the site is not followed;
- **robots.txt** is obeyed (``urllib.robotparser`` over the file fetched here, for ragd's
  user agent); a robots.txt that cannot be fetched (5xx, timeout) stops the crawl as
  incomplete, so nothing is deleted on its account (a 404 means "everything allowed");
- **limits**: ``max_pages`` fetched per run and ``max_depth`` links from a start page; a
  crawler trap (a calendar's "next month", forever) ends at either, with a note in the run's
  status; URLs are canonical (``web_urls``) so one page is fetched once;
- **conditional GET**: ``If-None-Match``/``If-Modified-Since`` from the last fetch; a 304 is
  an unchanged page whose stored links carry the crawl on;
- **canonical URLs**: a page's ``<link rel=canonical>`` on the same site is its key;
- **redirects** are followed within the site (at most 5), the final URL is the key;
- **timeouts**: each request's connect/read timeout (``RAGD_SOURCES_HTTP_TIMEOUT_SECONDS``)
  and a wall-clock bound per page (a server sending a byte now and then cannot hold the
  crawl); after ``MAX_CONSECUTIVE_FAILURES`` failed requests in a row the site is taken as
  down and the crawl stops, incomplete;
- a page larger than ``RAGD_MAX_DOCUMENT_BYTES`` is a failed item, read no further.

Permissions (``"permissions": {"meta": "ragd-readers"}``): an HTML page's
``<meta name="ragd-readers" content="g:hr u:...">`` becomes its document's allow-list on
every fetch (``source_permissions``); a page without that meta tag, or a file that is not
HTML, gets none (everyone who reads the source's collection). A 304 leaves the allow-list
as it is: the tag is part of the page, so a change to it changes the page.

404 and 410 mean the page is gone (deleted now); other failures keep what was indexed.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import httpx

import ragd
from ragd.adapters.sources.network import check_host
from ragd.adapters.sources.web_urls import canonical_url, page_links, site_of, sitemap_locations
from ragd.domain.source_permissions import COMMON_SETTINGS, check_common, parse_readers
from ragd.domain.sources import ReadItem, ScanReport, SourceAccess, SourceItem, SourceKind
from ragd.errors import InvalidRequest, RagdError

USER_AGENT = f"ragd-sync/{ragd.__version__} (+https://ragd.dev/sources)"
ROBOTS_AGENT = "ragd-sync"
DEFAULT_MAX_PAGES = 500
DEFAULT_MAX_DEPTH = 5
MAX_PAGES = 100_000
MAX_DEPTH = 50
MAX_REDIRECTS = 5
MAX_CONSECUTIVE_FAILURES = 5
MAX_STORED_LINKS = 500
MAX_SITEMAPS = 50
MAX_CRAWL_DELAY_S = 2.0
PAGE_TIME_FACTOR = 3
"""A page may take this many request timeouts in all (headers plus a slow body)."""
HTML_TYPES = ("text/html", "application/xhtml+xml")
_SETTINGS = {"start_urls", "sitemap_url", "max_pages", "max_depth", "same_site"}


class WebReader:
    kind: SourceKind = "web"

    def __init__(self, *, max_bytes: int, timeout_seconds: float, allow_private: bool) -> None:
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.allow_private = allow_private

    def check(self, config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - _SETTINGS - COMMON_SETTINGS
        if unknown:
            raise InvalidRequest(f"unknown web source setting(s): {', '.join(sorted(unknown))}")
        raw_starts = config.get("start_urls") or []
        if isinstance(raw_starts, str):
            raw_starts = [raw_starts]
        if not isinstance(raw_starts, list):
            raise InvalidRequest("'start_urls' is a list of URLs")
        starts = []
        for u in raw_starts:
            c = canonical_url(str(u))
            if c is None:
                raise InvalidRequest(f"not an http(s) URL: {str(u)[:200]}")
            starts.append(c)
        sitemap = config.get("sitemap_url")
        if sitemap is not None:
            sitemap = canonical_url(str(sitemap))
            if sitemap is None:
                raise InvalidRequest("'sitemap_url' must be an http(s) URL")
        if not starts and not sitemap:
            raise InvalidRequest("a web source needs 'start_urls' or 'sitemap_url'")
        for u in [*starts, *([sitemap] if sitemap else [])]:
            check_host(
                urlsplit(u).hostname or "", allow_private=self.allow_private, unresolvable_ok=True
            )
        return {
            "start_urls": starts,
            "sitemap_url": sitemap,
            "max_pages": _bounded(
                config.get("max_pages", DEFAULT_MAX_PAGES), "max_pages", MAX_PAGES
            ),
            "max_depth": _bounded(
                config.get("max_depth", DEFAULT_MAX_DEPTH), "max_depth", MAX_DEPTH, low=0
            ),
            "same_site": bool(config.get("same_site", True)),
            **_common(config),
        }

    def scan(
        self,
        access: SourceAccess,
        known: Callable[[str], SourceItem | None],
        report: ScanReport,
        *,
        deadline: float,
    ) -> Iterator[ReadItem]:
        config = self.check(access.config)
        crawl = _Crawl(self, config, access.secret, known, report, deadline)
        try:
            yield from crawl.run()
        finally:
            crawl.client.close()


def _common(config: dict[str, Any]) -> dict[str, Any]:
    common = check_common(config, frozenset({"meta"}))
    if common.get("permissions", {}).get("meta") is True:
        raise InvalidRequest(
            "'permissions.meta' names the page's <meta name>, e.g. \"ragd-readers\""
        )
    return common


def _bounded(value: object, name: str, high: int, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be an integer from {low} to {high}")
    return value


@dataclass
class _Fetched:
    url: str
    status: int
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: str | None = None


class _Crawl:
    def __init__(
        self,
        reader: WebReader,
        config: dict[str, Any],
        secret: dict[str, str],
        known: Callable[[str], SourceItem | None],
        report: ScanReport,
        deadline: float,
    ) -> None:
        self.reader = reader
        self.config = config
        self.known = known
        self.report = report
        self.deadline = deadline
        self.sites = {site_of(u) for u in config["start_urls"]}
        if config["sitemap_url"]:
            self.sites.add(site_of(config["sitemap_url"]))
        timeout = reader.timeout_seconds
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, **secret},
        )
        self.robots: dict[str, RobotFileParser | None] = {}
        self.checked_hosts: set[str] = set()
        self.failures_in_a_row = 0
        self.last_request = 0.0

    # -- the crawl -----------------------------------------------------------------------
    def run(self) -> Iterator[ReadItem]:
        cfg = self.config
        frontier: deque[tuple[str, int]] = deque((u, 0) for u in cfg["start_urls"])
        queued = set(cfg["start_urls"])
        if cfg["sitemap_url"]:
            for u in self._sitemap_pages(cfg["sitemap_url"]):
                if u not in queued:
                    queued.add(u)
                    frontier.append((u, 0))
        done: set[str] = set()
        fetched = 0
        while frontier and self.report.complete:
            if time.monotonic() > self.deadline:
                self.report.stop("time limit reached (RAGD_SOURCES_MAX_RUN_SECONDS)")
                return
            if fetched >= cfg["max_pages"]:
                self.report.notes.append(
                    f"page limit {cfg['max_pages']} reached; {len(frontier)} queued link(s) "
                    "not followed"
                )
                return
            url, depth = frontier.popleft()
            if url in done or not self._allowed(url):
                continue
            fetched += 1
            item = self._page(url)
            if item is None:
                continue
            if item.key in done:
                continue  # reached again under another name (redirect, canonical)
            done.add(item.key)
            done.add(url)
            yield item
            if depth < cfg["max_depth"]:
                for link in item.links:
                    if link not in queued and self._in_scope(link):
                        queued.add(link)
                        frontier.append((link, depth + 1))
            elif item.links and (note := f"depth limit {cfg['max_depth']} reached") not in (
                self.report.notes
            ):
                self.report.notes.append(note)

    def _page(self, url: str) -> ReadItem | None:
        before = self.known(url)
        got = self._get(url, before)
        if got is None:
            return None  # redirected off the site, or robots stopped the crawl
        key = got.url
        prior = self.known(key) if key != url else before
        if got.error is not None or got.status >= 500 or got.status in (401, 403, 408, 429):
            reason = got.error or f"HTTP {got.status}"
            return ReadItem(
                key=key,
                uri=key,
                change_key=None,
                error=reason,
                links=prior.links if prior else (),
                validators=prior.validators if prior else {},
            )
        if got.status in (404, 410):
            return ReadItem(key=key, uri=key, change_key=None, gone=True)
        if got.status == 304 and prior is not None:
            return ReadItem(
                key=key,
                uri=key,
                change_key=prior.change_key,
                not_modified=True,
                links=prior.links,
                validators=prior.validators,
            )
        if got.status != 200:
            return ReadItem(key=key, uri=key, change_key=None, error=f"HTTP {got.status}")
        return self._content(key, got)

    def _content(self, key: str, got: _Fetched) -> ReadItem | None:
        media_type = got.headers.get("content-type", "").split(";")[0].strip().lower() or None
        links: tuple[str, ...] = ()
        meta_name: str | None = self.config.get("permissions", {}).get("meta")
        readers: tuple[str, ...] | None = () if meta_name else None
        error: str | None = None
        if media_type in HTML_TYPES:
            text = got.body.decode(_charset(got.headers) or "utf-8", errors="replace")
            page = page_links(text, meta_name)
            if meta_name:
                try:
                    readers = parse_readers(page.meta_value)
                except RagdError as exc:
                    error = f"cannot read its permissions: {exc}"
            base = canonical_url(page.base, key) if page.base else key
            if page.canonical:
                canon = canonical_url(page.canonical, key)
                if canon and self._in_scope(canon):
                    key = canon
            if not page.nofollow:
                found = [canonical_url(h, base or key) for h in page.links]
                links = tuple(dict.fromkeys(u for u in found if u and self._in_scope(u)))
            if page.noindex:
                return ReadItem(key=key, uri=key, change_key=None, gone=True, links=links)
        validators = {
            k: v
            for k, v in (
                ("etag", got.headers.get("etag")),
                ("last_modified", got.headers.get("last-modified")),
            )
            if v
        }
        if error is not None:  # the document keeps the allow-list it had
            return ReadItem(
                key=key, uri=key, change_key=None, error=error, links=links[:MAX_STORED_LINKS]
            )
        return ReadItem(
            key=key,
            uri=key,
            change_key="sha256:" + hashlib.sha256(got.body).hexdigest(),
            size=len(got.body),
            media_type=media_type,
            data=got.body,
            validators=validators,
            links=links[:MAX_STORED_LINKS],
            readers=readers,
        )

    # -- requests ------------------------------------------------------------------------
    def _get(self, url: str, prior: SourceItem | None) -> _Fetched | None:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            validators = prior.validators if prior else {}
            got = self._request(current, validators)
            if got.status not in (301, 302, 303, 307, 308):
                got.url = current
                return got
            target = canonical_url(got.headers.get("location", ""), current)
            if target is None or not self._in_scope(target):
                self.report.notes.append(f"{current} redirects off the site: not followed")
                return None
            if not self._allowed(target):
                return None
            current = target
            prior = self.known(current)
        return _Fetched(current, 0, error=f"more than {MAX_REDIRECTS} redirects")

    def _request(self, url: str, validators: dict[str, str]) -> _Fetched:
        headers: dict[str, str] = {}
        if etag := validators.get("etag"):
            headers["If-None-Match"] = etag
        if modified := validators.get("last_modified"):
            headers["If-Modified-Since"] = modified
        limit = self.reader.max_bytes
        page_deadline = time.monotonic() + PAGE_TIME_FACTOR * self.reader.timeout_seconds
        try:
            self._check_host(url)
            with self.client.stream("GET", url, headers=headers) as response:
                body = bytearray()
                if response.status_code == 200:
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > limit:
                            return self._failed(
                                url,
                                f"page is over the {limit}-byte limit (RAGD_MAX_DOCUMENT_BYTES)",
                            )
                        if time.monotonic() > page_deadline:
                            return self._failed(url, "timed out reading the page")
                got = _Fetched(url, response.status_code, response.headers, bytes(body))
        except httpx.TimeoutException:
            return self._failed(url, f"timed out after {self.reader.timeout_seconds:g}s")
        except httpx.HTTPError as exc:
            return self._failed(url, f"request failed: {type(exc).__name__}: {exc}"[:300])
        except RagdError as exc:
            return self._failed(url, str(exc))
        if got.status >= 500 or got.status == 429:
            self._count_failure(f"HTTP {got.status}")
        else:
            self.failures_in_a_row = 0
        return got

    def _failed(self, url: str, reason: str) -> _Fetched:
        self._count_failure(reason)
        return _Fetched(url, 0, error=reason)

    def _count_failure(self, reason: str) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES and self.report.complete:
            self.report.stop(
                f"site unreachable: {self.failures_in_a_row} requests in a row failed "
                f"(last: {reason})"
            )

    def _check_host(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        if host not in self.checked_hosts:
            check_host(host, allow_private=self.reader.allow_private)
            self.checked_hosts.add(host)

    # -- scope, robots, sitemaps ------------------------------------------------------
    def _in_scope(self, url: str) -> bool:
        return not self.config["same_site"] or site_of(url) in self.sites

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.robots:
            self.robots[origin] = self._robots(origin)
        robots = self.robots[origin]
        if robots is None:
            return self.report.complete
        if delay := robots.crawl_delay(ROBOTS_AGENT):
            wait = min(float(delay), MAX_CRAWL_DELAY_S) - (time.monotonic() - self.last_request)
            if wait > 0:
                time.sleep(wait)
            self.last_request = time.monotonic()
        return robots.can_fetch(ROBOTS_AGENT, url)

    def _robots(self, origin: str) -> RobotFileParser | None:
        got = self._request(f"{origin}/robots.txt", {})
        parser = RobotFileParser()
        if got.error is None and got.status == 200:
            parser.parse(got.body.decode("utf-8", errors="replace").splitlines())
        elif got.error is None and 400 <= got.status < 500:
            parser.parse([])  # no robots.txt: everything allowed
        else:
            self.report.stop(
                f"robots.txt of {origin} could not be read ({got.error or f'HTTP {got.status}'})"
            )
            return None
        return parser

    def _sitemap_pages(self, url: str) -> list[str]:
        pages: list[str] = []
        todo = [url]
        seen: set[str] = set()
        limit = self.config["max_pages"]
        while todo and len(seen) < MAX_SITEMAPS and len(pages) < limit:
            current = todo.pop(0)
            if current in seen or not self._in_scope(current):
                continue
            seen.add(current)
            got = self._get(current, None)
            if got is None or got.error is not None or got.status != 200:
                self.report.stop(
                    f"sitemap {current} could not be read "
                    f"({(got.error or f'HTTP {got.status}') if got else 'redirected off the site'})"
                )
                return pages
            found, nested = sitemap_locations(got.body, limit)
            for loc in found:
                c = canonical_url(loc)
                if c and self._in_scope(c):
                    pages.append(c)
            todo.extend(c for n in nested if (c := canonical_url(n)))
        return pages[:limit]


def _charset(headers: httpx.Headers) -> str | None:
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"').strip()
            try:
                "".encode(charset)
            except LookupError:
                return None
            return charset
    return None
