"""URLs of a crawl: one canonical spelling per page, the site's scope, links out of HTML,
page URLs out of a sitemap.

Canonical URLs are what keep a crawler out of trouble: ``HTTP://Site:80/a/./b#x`` and
``http://site/a/b`` are one page, tracking parameters (``utm_*``, ``fbclid``...) are dropped
and the remaining query parameters sorted, so the same page reached by two links is
fetched once. What no spelling can catch (a calendar with a link to the next month,
forever) is bounded by the source's page and depth limits.
"""

from __future__ import annotations

import posixpath
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

MAX_URL_CHARS = 2000
MAX_LINKS_PER_PAGE = 1000
TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "yclid")
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The one spelling of ``url`` (relative to ``base``), or ``None`` when it is not a
    crawlable http(s) URL."""
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        host = parts.hostname.lower().rstrip(".")
        port = parts.port
    except ValueError:
        return None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if path in (".", "//"):
        path = "/"
    if not path.startswith("/"):
        path = "/" + path
    path = path.replace("//", "/")
    if trailing and not path.endswith("/"):
        path += "/"
    path = quote(unquote(path), safe=_PATH_SAFE)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(TRACKING)
    ]
    out = urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))
    return out if len(out) <= MAX_URL_CHARS else None


def site_of(url: str) -> str:
    """The host a URL belongs to (``same_site`` compares these: http and https of one host
    are one site)."""
    return (urlsplit(url).hostname or "").lower()


class PageLinks(HTMLParser):
    """``<a href>``, ``<link rel=canonical>``, ``<base href>`` and the robots meta tag of
    one HTML page; at most ``MAX_LINKS_PER_PAGE`` links. With ``meta_name``, also the
    content of the first ``<meta name=...>`` of that name (``meta_value``; None if the
    page has none), which a source maps onto the document's allow-list."""

    def __init__(self, meta_name: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.canonical: str | None = None
        self.base: str | None = None
        self.noindex = False
        self.nofollow = False
        self.meta_name = meta_name.lower() if meta_name else None
        self.meta_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            if len(self.links) < MAX_LINKS_PER_PAGE and "nofollow" not in a.get("rel", ""):
                self.links.append(a["href"])
        elif tag == "link" and "canonical" in a.get("rel", "").lower().split() and a.get("href"):
            self.canonical = self.canonical or a["href"]
        elif tag == "base" and a.get("href"):
            self.base = self.base or a["href"]
        elif tag == "meta" and a.get("name", "").lower() in ("robots", "ragd"):
            content = a.get("content", "").lower()
            self.noindex = self.noindex or "noindex" in content or "none" in content
            self.nofollow = self.nofollow or "nofollow" in content or "none" in content
        elif (
            tag == "meta"
            and self.meta_name is not None
            and self.meta_value is None
            and a.get("name", "").lower() == self.meta_name
        ):
            self.meta_value = a.get("content", "")


def page_links(html: str, meta_name: str | None = None) -> PageLinks:
    parser = PageLinks(meta_name)
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass
    return parser


def sitemap_locations(xml: bytes, limit: int) -> tuple[list[str], list[str]]:
    """``(page URLs, nested sitemap URLs)`` of a sitemap or sitemap index (defusedxml:
    no entity expansion, no external entities)."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        return [], []
    pages: list[str] = []
    nested: list[str] = []
    tag = root.tag.rsplit("}", 1)[-1]
    for child in root:
        name = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
        loc = next(
            (c.text for c in child if isinstance(c.tag, str) and c.tag.endswith("loc") and c.text),
            None,
        )
        if not loc:
            continue
        if tag == "sitemapindex" and name == "sitemap":
            nested.append(loc.strip())
        elif name == "url":
            pages.append(loc.strip())
        if len(pages) + len(nested) >= limit:
            break
    return pages, nested
