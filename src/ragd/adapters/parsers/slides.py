"""PPTX: each slide's title as its heading, its text, tables as rows, and its notes.

The slide number is the page (a citation says "slide 7"). Shapes are read in the order
the slide lists them, groups included; a table keeps its header row with every chunk of
it (``table_rows.table_section``); the speaker notes follow the slide's own text, marked
"Notes:", because what a presenter says is often where the answer is.

A PPTX is a zip, so it is opened through ``archives`` like a DOCX: python-pptx is handed a
stored copy holding only the XML parts, each inflated within the archive limits (images,
media and embedded files are never inflated by it). A slide's pictures are read from the
archive, bounded the same way, as image sections of that slide (``ocr.embedded``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from ragd.adapters.parsers.archives import open_archive
from ragd.adapters.parsers.content_metadata import core_metadata
from ragd.adapters.parsers.failures import phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.ocr.embedded import EmbeddedImages, part_images
from ragd.adapters.parsers.table_rows import table_section
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_WHAT = "PPTX file"
_MAX_GROUP_DEPTH = 32

log = logging.getLogger(__name__)


class PptxParser:
    media_types: frozenset[str] = frozenset({PPTX})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        import pptx

        limits = current_limits()
        archive = open_archive(data, limits.archive, what=_WHAT)
        package = archive.repack(lambda name: name.lower().endswith((".xml", ".rels")))
        images = EmbeddedImages(limits.images, limits.ocr)
        try:
            deck = pptx.Presentation(io.BytesIO(package))
            sections = []
            for number, slide in enumerate(deck.slides, 1):
                own = _slide(slide, number)
                sections.extend(own)
                if images.active:
                    path = own[0].heading_path if own else ()
                    for s in part_images(archive, slide.part, images, number):
                        sections.append(replace(s, heading_path=path))
            metadata = core_metadata(deck.core_properties)
        except DocumentRejected:
            raise
        except Exception as exc:  # python-pptx, lxml and zipfile raise their own types
            log.info("PPTX %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the PPTX file cannot be read: {phrase(exc)}") from exc
        if not any(s.text.strip() for s in sections):
            raise DocumentRejected("the PPTX file has no text")
        title = metadata.pop("title", None) or _first_title(sections)
        if images.skipped:
            metadata["images_skipped"] = images.skipped
        return ParsedDocument(
            sections=sections, title=title, metadata=metadata, images=images.images
        )


def _slide(slide: Any, number: int) -> list[Section]:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    path = (title,) if title else ()
    texts: list[str] = []
    out: list[Section] = []
    for shape in _shapes(slide.shapes, 0):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            table = table_section(rows, page=number, heading_path=path)
            if table is not None:
                out.append(table)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            text = shape.text_frame.text.strip()
            if text:
                texts.append(text)
    body = Section(text="\n\n".join(texts) if texts else title, page=number, heading_path=path)
    sections = [body, *out]
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        notes = frame.text.strip() if frame is not None else ""
        if notes:
            sections.append(Section(text=f"Notes: {notes}", page=number, heading_path=path))
    return sections


def _shapes(shapes: Any, depth: int) -> Iterator[Any]:
    """Every shape, the members of groups in their place (groups nest; bounded)."""
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6 and hasattr(shape, "shapes"):  # GROUP
            if depth < _MAX_GROUP_DEPTH:
                yield from _shapes(shape.shapes, depth + 1)
        else:
            yield shape


def _first_title(sections: list[Section]) -> str | None:
    for section in sections:
        if section.heading_path:
            return section.heading_path[0]
    return None
