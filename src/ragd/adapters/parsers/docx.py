"""DOCX: paragraphs grouped under their Word heading styles, tables as ``a | b`` rows.

Word has no heading tags, only paragraph styles, so the style name ("Title",
"Heading 1".."Heading 9") is what gives a section its path. Body content is walked in
document order so a table stays next to the paragraphs that introduce it.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from ragd.adapters.parsers.failures import describe
from ragd.adapters.parsers.sections import SectionBuilder
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_HEADING = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


class DocxParser:
    media_types: frozenset[str] = frozenset({DOCX})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:  # noqa: ARG002
        import docx

        try:
            document = docx.Document(io.BytesIO(data))
            title, sections = _walk(document)
            core_title = document.core_properties.title
        except zipfile.BadZipFile as exc:
            raise DocumentRejected("not a readable DOCX file: not a zip archive") from exc
        except KeyError as exc:  # zipfile's answer for a missing [Content_Types].xml etc.
            detail = exc.args[0] if exc.args else exc
            raise DocumentRejected(
                f"not a readable DOCX file: the zip archive is not a Word document ({detail})"
            ) from exc
        except Exception as exc:  # lxml and python-docx raise their own types
            raise DocumentRejected(f"not a readable DOCX file: {describe(exc)}") from exc
        if not sections:
            raise DocumentRejected("DOCX file has no text")
        if isinstance(core_title, str) and core_title.strip():
            title = core_title.strip()
        return ParsedDocument(sections=sections, title=title)


def _walk(document: Any) -> tuple[str | None, list[Section]]:
    from docx.table import Table

    out = SectionBuilder()
    title: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.add(_table_text(block))
            continue
        text = block.text.strip()
        level = _heading_level(block)
        if level is None:
            out.add(text)
            continue
        if title is None and level <= 1 and text:
            title = " ".join(text.split())
        out.heading(level, text)
    return title, out.finish()


def _heading_level(paragraph: Any) -> int | None:
    """0 for "Title", 1-9 for "Heading N", None for body text."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return 0
    match = _HEADING.match(name.strip())
    return int(match.group(1)) if match else None


def _table_text(table: Any) -> str:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[Any] = []
        for cell in row.cells:
            if any(cell._tc is prev for prev in seen):  # a merged cell repeats per column
                continue
            seen.append(cell._tc)
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
