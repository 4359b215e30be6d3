"""HTML: the page's main text, without navigation, banners and other boilerplate.

trafilatura is a tuned main-content extractor; asking it for markdown lets the markdown
parser recover heading paths for free. On short pages it stops being selective and keeps
menus, so obvious boilerplate is cut from the tree first, and a plain text pass over what
is left of ``<body>`` is the fallback when trafilatura finds nothing.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from ragd.adapters.parsers.decoding import decode_text
from ragd.adapters.parsers.markdown import markdown_sections
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

HTML = "text/html"

# Not <form>: ASP.NET-style pages wrap their whole body in one.
_ALWAYS_DROP = ("nav", "aside", "script", "style", "noscript", "template", "iframe")
# Page chrome; inside <article>/<main> the same tags usually hold the article's own title.
_CHROME = ("header", "footer")
# Matched against id/class; a bare "cookie" would also hit a recipe site's content.
_BANNER_HINTS = (
    "cookie-banner",
    "cookie-consent",
    "cookie-notice",
    "cookie-bar",
    "cookiebar",
    "cookieconsent",
    "consent",
    "gdpr",
)
# Characters lxml refuses in text nodes (XML 1.0) that decode_text lets through.
_NOT_XML = re.compile("[\x0b\x0c\x1b\ufffe\uffff\ud800-\udfff]")
_CONTENT_ROOTS = frozenset({"html", "body", "main", "article"})

log = logging.getLogger(__name__)


class HtmlParser:
    media_types: frozenset[str] = frozenset({HTML, "application/xhtml+xml"})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        text = _NOT_XML.sub(" ", decode_text(data, what="HTML page"))
        root = _lxml_root(text)
        if root is None:
            raise DocumentRejected("HTML page could not be parsed")
        title = _title(text, root)
        _drop_boilerplate(root)
        sections: list[Section] = []
        extracted = _trafilatura_markdown(root, source=source)
        if extracted:
            h1, sections = markdown_sections(extracted)
            title = title or h1
        if not sections:
            body = _body_text(root)
            sections = [Section(text=body)] if body else []
        if not sections:
            raise DocumentRejected("HTML page has no readable text")
        return ParsedDocument(sections=sections, title=title)


def _lxml_root(text: str) -> Any:
    import lxml.html
    from lxml.etree import LxmlError

    try:
        return lxml.html.document_fromstring(text)
    except (LxmlError, ValueError):
        return None


def _title(text: str, root: Any) -> str | None:
    """trafilatura's cleaned-up title (og:title, <title>, h1), else the raw <title>."""
    import trafilatura

    try:
        meta = trafilatura.extract_metadata(text)
    except Exception:  # metadata is a nicety; never fail a document for it
        meta = None
    title = getattr(meta, "title", None)
    if isinstance(title, str) and title.strip():
        return " ".join(title.split())
    raw = " ".join((root.findtext(".//title") or "").split())
    return raw or None


def _drop_boilerplate(root: Any) -> None:
    doomed = [el for tag in _ALWAYS_DROP for el in root.iter(tag)]
    for tag in _CHROME:
        doomed += [el for el in root.iter(tag) if not _inside_content(el)]
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in _CONTENT_ROOTS:
            continue
        marker = f"{el.get('id', '')} {el.get('class', '')}".lower().replace("_", "-")
        if any(hint in marker for hint in _BANNER_HINTS):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            el.drop_tree()


def _inside_content(el: Any) -> bool:
    return any(a.tag in ("article", "main") for a in el.iterancestors())


def _trafilatura_markdown(root: Any, *, source: str) -> str | None:
    import trafilatura

    try:
        out: str | None = trafilatura.extract(
            copy.deepcopy(root),  # trafilatura prunes the tree it is given
            output_format="markdown",
            include_tables=True,
            include_formatting=True,  # keeps headings as '#' so sections get a path
            include_comments=False,
            include_images=False,
        )
    except Exception as exc:  # trafilatura/lxml raise many types on hostile markup
        log.debug("trafilatura failed on %s: %s", source, exc)
        return None
    return out if out and out.strip() else None


def _body_text(root: Any) -> str:
    body = root.find(".//body")
    node = body if body is not None else root
    lines = (" ".join(line.split()) for line in node.text_content().splitlines())
    return "\n".join(line for line in lines if line)
