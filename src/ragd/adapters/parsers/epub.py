"""EPUB: the book's chapters in reading order, paragraphs under their headings.

An EPUB is a zip of XHTML chapters plus a package file (OPF) that lists them in reading
order (the spine) and carries the book's title, author, language and dates. It is read
through ``archives`` (only the parts named by the container and the spine, each inflated
within the archive limits), the XML with lxml's default limits and without entities or
network access.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any
from urllib.parse import unquote

from ragd.adapters.parsers.archives import SafeArchive, open_archive
from ragd.adapters.parsers.content_metadata import clean, iso_date, language_tag, text_value
from ragd.adapters.parsers.failures import phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.sections import SectionBuilder
from ragd.domain.models import ParsedDocument
from ragd.errors import DocumentRejected

EPUB = "application/epub+zip"
_WHAT = "EPUB file"
_CONTAINER = "META-INF/container.xml"
_OPF = "http://www.idpf.org/2007/opf"
_DC = "http://purl.org/dc/elements/1.1/"
_HTML_TYPES = ("application/xhtml+xml", "text/html")
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = frozenset(
    {"p", "li", "pre", "blockquote", "dd", "dt", "figcaption", "caption", "address", "div"}
)

log = logging.getLogger(__name__)


class EpubParser:
    media_types: frozenset[str] = frozenset({EPUB})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        archive = open_archive(data, current_limits().archive, what=_WHAT)
        try:
            opf_path = _package_path(archive)
            opf = _xml(archive.read(opf_path))
            chapters = _spine(opf, posixpath.dirname(opf_path))
            builder = SectionBuilder()
            for path in chapters:
                if path in archive:
                    _chapter(archive.read(path), builder)
            sections = builder.finish()
            metadata = _metadata(opf)
        except DocumentRejected:
            raise
        except Exception as exc:  # lxml raises its own types
            log.info("EPUB %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the EPUB file cannot be read: {phrase(exc)}") from exc
        if not sections:
            raise DocumentRejected("the EPUB file has no text")
        return ParsedDocument(
            sections=sections, title=metadata.pop("title", None), metadata=metadata
        )


def _xml(data: bytes) -> Any:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def _package_path(archive: SafeArchive) -> str:
    if _CONTAINER not in archive:
        raise DocumentRejected("the EPUB file has no META-INF/container.xml: it is not an e-book")
    container = _xml(archive.read(_CONTAINER))
    for element in container.iter():
        if isinstance(element.tag, str) and element.tag.endswith("rootfile"):
            path = element.get("full-path")
            if path and path in archive:
                return str(path)
    raise DocumentRejected("the EPUB file does not name its package document (OPF)")


def _spine(opf: Any, base: str) -> list[str]:
    """The chapters' paths inside the zip, in reading order."""
    items = {
        item.get("id"): item
        for item in opf.iter(f"{{{_OPF}}}item")
        if item.get("media-type") in _HTML_TYPES
    }
    paths: list[str] = []
    for ref in opf.iter(f"{{{_OPF}}}itemref"):
        item = items.get(ref.get("idref"))
        href = item.get("href") if item is not None else None
        if href:
            path = posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))
            if path not in paths:
                paths.append(path)
    return paths


def _chapter(data: bytes, builder: SectionBuilder) -> None:
    import lxml.html

    root = lxml.html.document_fromstring(data)
    outer, in_table = _structure(root)
    for element in root.iter():
        tag = _local(element.tag)
        if element in in_table:
            continue
        if tag in _HEADINGS:
            builder.heading(_HEADINGS[tag], element.text_content())
        elif tag == "table":
            builder.table(
                [
                    [cell.text_content() for cell in row if _local(cell.tag) in ("td", "th")]
                    for row in element.iter()
                    if _local(row.tag) == "tr"
                ]
            )
        elif tag in _BLOCKS and element not in outer:
            builder.add(" ".join(element.text_content().split()))


def _structure(root: Any) -> tuple[set[Any], set[Any]]:
    """The elements holding a block (whose text is taken from the blocks inside them)
    and those inside a table (read with the table), in one pass each: linear in the
    chapter's size times its depth (lxml bounds the depth)."""
    outer: set[Any] = set()
    in_table: set[Any] = set()
    for element in root.iter():
        tag = _local(element.tag)
        if tag in _BLOCKS or tag in _HEADINGS or tag == "table":
            for ancestor in element.iterancestors():
                if ancestor in outer:
                    break
                outer.add(ancestor)
        if tag == "table" and element not in in_table:
            in_table.update(element.iterdescendants())
    return outer, in_table


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _metadata(opf: Any) -> dict[str, Any]:
    def first(tag: str) -> str | None:
        found = next(opf.iter(f"{{{_DC}}}{tag}"), None)
        return text_value(found.text) if found is not None else None

    modified = None
    for meta in opf.iter(f"{{{_OPF}}}meta"):
        if meta.get("property") == "dcterms:modified":
            modified = iso_date(text_value(meta.text))
    return clean(
        {
            "title": first("title"),
            "author": first("creator"),
            "created": iso_date(first("date")),
            "modified": modified,
            "language": language_tag(first("language")),
        }
    )
