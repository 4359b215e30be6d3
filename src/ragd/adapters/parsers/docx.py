"""DOCX: paragraphs grouped under their Word heading styles, tables as ``a | b`` rows.

Word has no heading tags, only paragraph styles, so the style name ("Title",
"Heading 1".."Heading 9") is what gives a section its path. Body content is walked in
document order so a table stays next to the paragraphs that introduce it; a table is a
section of its own whose first row is kept with every chunk of it. The core properties
give the title, author, dates and language (``content_metadata``).

A DOCX is a zip, so it is opened through ``archives``: the central directory is checked
against the archive limits before anything is inflated, and python-docx is handed a
stored copy holding only the XML parts, each inflated within those limits (images and
embedded files are never inflated by it; the body's pictures are read from the archive,
bounded the same way, as image sections after its text: ``ocr.embedded``). python-docx
parses XML with lxml's default limits (``huge_tree`` off: a text node over 10 MB or
nesting over 256 levels is an error, not gigabytes of tree).
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from ragd.adapters.parsers.archives import open_archive
from ragd.adapters.parsers.content_metadata import core_metadata
from ragd.adapters.parsers.failures import phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.ocr.embedded import EmbeddedImages, part_images
from ragd.adapters.parsers.sections import SectionBuilder
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_HEADING = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)
_WHAT = "DOCX file"

log = logging.getLogger(__name__)


class DocxParser:
    media_types: frozenset[str] = frozenset({DOCX})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        import docx
        from docx.opc.exceptions import PackageNotFoundError

        limits = current_limits()
        archive = open_archive(data, limits.archive, what=_WHAT)
        package = archive.repack(_is_xml_part)
        images = EmbeddedImages(limits.images, limits.ocr)
        try:
            document = docx.Document(io.BytesIO(package))
            title, sections = _walk(document)
            if images.active:  # a DOCX has no pages: its pictures follow its text
                sections.extend(part_images(archive, document.part, images, None))
            core_title = document.core_properties.title
            metadata = core_metadata(document.core_properties)
            metadata.pop("title", None)
        except (KeyError, PackageNotFoundError) as exc:  # a part the package names is absent
            log.info("DOCX %s: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(
                "the DOCX file is not a Word document: the zip archive lacks the parts "
                "a Word document has"
            ) from exc
        except ValueError as exc:  # python-docx: "file ... is not a Word file, content type"
            if "not a Word file" not in str(exc):
                raise DocumentRejected(_damaged(exc, source)) from exc
            log.info("DOCX %s: %s", source, exc)
            raise DocumentRejected(
                "the DOCX file is not a Word document: its main part has another content type"
            ) from exc
        except Exception as exc:  # lxml and python-docx raise their own types
            raise DocumentRejected(_damaged(exc, source)) from exc
        if not any(s.text.strip() for s in sections):
            raise DocumentRejected("the DOCX file has no text")
        if isinstance(core_title, str) and core_title.strip():
            title = core_title.strip()
        if images.skipped:
            metadata["images_skipped"] = images.skipped
        return ParsedDocument(
            sections=sections, title=title, metadata=metadata, images=images.images
        )


def _is_xml_part(name: str) -> bool:
    """The parts python-docx parses; media and embedded files stay empty."""
    return name.lower().endswith((".xml", ".rels"))


def _damaged(exc: BaseException, source: str) -> str:
    log.info("DOCX %s unreadable: %s: %s", source, type(exc).__name__, exc)
    return f"the DOCX file cannot be read: {phrase(exc)}"


def _walk(document: Any) -> tuple[str | None, list[Section]]:
    from docx.table import Table

    out = SectionBuilder()
    styles = _StyleNames()
    title: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.table(_table_rows(block))
            continue
        text = block.text.strip()
        level = _heading_level(styles.name(block))
        if level is None:
            out.add(text)
            continue
        if title is None and level <= 1 and text:
            title = " ".join(text.split())
        out.heading(level, text)
    return title, out.finish()


class _StyleNames:
    """Style name per style id, looked up once per document.

    python-docx resolves a paragraph's style by scanning every style of the document
    (about 2 ms a paragraph in a stock document), which made a 300k-paragraph file take
    minutes; the answer depends on the style id alone, so it is cached by that id.
    """

    def __init__(self) -> None:
        self._names: dict[str | None, str] = {}

    def name(self, paragraph: Any) -> str:
        style_id: str | None = paragraph._p.style
        if style_id not in self._names:
            style = paragraph.style
            self._names[style_id] = (style.name or "") if style is not None else ""
        return self._names[style_id]


def _heading_level(name: str) -> int | None:
    """0 for "Title", 1-9 for "Heading N", None for body text."""
    if name.lower() == "title":
        return 0
    match = _HEADING.match(name.strip())
    return int(match.group(1)) if match else None


def _table_rows(table: Any) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[Any] = []
        for cell in row.cells:
            if any(cell._tc is prev for prev in seen):  # a merged cell repeats per column
                continue
            seen.append(cell._tc)
            cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    return rows
