"""ODS (OpenDocument spreadsheets): each sheet a section, each row with its headers.

Read from the zip through ``archives`` (``content.xml`` and ``meta.xml`` only, each
inflated within the archive limits) and parsed as a stream with lxml's ``iterparse``, each
row dropped once read, rather than through a library that builds every sheet as a tree.

ODS compresses repetition: ``number-rows-repeated`` and ``number-columns-repeated`` say
"this row (cell) N times", and every sheet ends with an empty row repeated to the last row
of the grid (1,048,576). Empty rows and cells are skipped without being expanded, and a
row with values is repeated at most ``MAX_REPEAT`` times (and a cell at most
``MAX_REPEAT`` columns), so a few bytes cannot ask for a billion cells.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ragd.adapters.parsers.archives import open_archive
from ragd.adapters.parsers.content_metadata import clean, iso_date, language_tag, text_value
from ragd.adapters.parsers.failures import phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.sheets import Merge, MergeFill, TextBudget, table_sections
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

ODS = "application/vnd.oasis.opendocument.spreadsheet"
MAX_REPEAT = 1_000
_WHAT = "ODS file"

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
_DC = "http://purl.org/dc/elements/1.1/"

log = logging.getLogger(__name__)


class OdsParser:
    media_types: frozenset[str] = frozenset({ODS})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        archive = open_archive(data, current_limits().archive, what=_WHAT)
        if "content.xml" not in archive:
            raise DocumentRejected("the ODS file has no content part: it is not a spreadsheet")
        content = archive.read("content.xml")
        meta = archive.read("meta.xml") if "meta.xml" in archive else b""
        budget = TextBudget("spreadsheet")
        try:
            sections = [s for name, rows in _sheets(content) for s in _section(name, rows, budget)]
            metadata = _metadata(meta) if meta else {}
        except DocumentRejected:
            raise
        except Exception as exc:  # lxml's XMLSyntaxError and friends
            log.info("ODS %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the ODS file cannot be read: {phrase(exc)}") from exc
        if not sections:
            raise DocumentRejected("the spreadsheet has no cells with values")
        return ParsedDocument(
            sections=sections, title=metadata.pop("title", None), metadata=metadata
        )


def _section(
    name: str, rows: Iterator[tuple[list[Any], list[Any]]], budget: TextBudget
) -> list[Section]:
    return list(table_sections(rows, heading_path=(name,), budget=budget))


def _sheets(content: bytes) -> Iterator[tuple[str, Iterator[tuple[list[Any], list[Any]]]]]:
    """(sheet name, its rows) in order; each sheet's rows must be read before the next."""
    from lxml import etree

    events = etree.iterparse(
        io.BytesIO(content), events=("start", "end"), resolve_entities=False, no_network=True
    )
    for event, element in events:
        if event == "start" and element.tag == f"{{{_TABLE}}}table":
            name = element.get(f"{{{_TABLE}}}name") or "Sheet"
            yield name, _rows(events)


def _rows(events: Any) -> Iterator[tuple[list[Any], list[Any]]]:
    """Rows of the sheet whose start was just read, up to its end tag."""
    fill = MergeFill()
    number = 0
    for event, element in events:
        tag = element.tag
        if event != "end":
            continue
        if tag == f"{{{_TABLE}}}table":
            element.clear()
            return
        if tag != f"{{{_TABLE}}}table-row":
            continue
        repeat = int(element.get(f"{{{_TABLE}}}number-rows-repeated") or 1)
        values = _cells(element, number + 1, fill)
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
        if not any(v is not None for v in values):
            number += repeat  # empty rows are skipped, however many they say they are
            continue
        for _ in range(min(repeat, MAX_REPEAT)):
            number += 1
            yield fill.apply(number, list(values))
        number += max(0, repeat - MAX_REPEAT)


def _cells(row: Any, number: int, fill: MergeFill) -> list[Any]:
    values: list[Any] = []
    column = 0
    for cell in row:
        if not isinstance(cell.tag, str):
            continue
        repeat = int(cell.get(f"{{{_TABLE}}}number-columns-repeated") or 1)
        value = _value(cell) if cell.tag == f"{{{_TABLE}}}table-cell" else None
        if value is None:
            column += repeat
            continue
        cols = int(cell.get(f"{{{_TABLE}}}number-columns-spanned") or 1)
        rows = int(cell.get(f"{{{_TABLE}}}number-rows-spanned") or 1)
        if cols > 1 or rows > 1:
            fill.add(Merge(number, column, number + rows - 1, column + cols - 1))
        for _ in range(min(repeat, MAX_REPEAT)):
            values.extend([None] * (column - len(values)))
            values.append(value)
            column += 1
        column += max(0, repeat - MAX_REPEAT)
    return values


def _value(cell: Any) -> Any:
    kind = cell.get(f"{{{_OFFICE}}}value-type")
    if kind in ("float", "percentage", "currency"):
        raw = cell.get(f"{{{_OFFICE}}}value")
        try:
            return float(raw) if raw is not None else _text(cell)
        except ValueError:
            return _text(cell)
    if kind == "date":
        raw = cell.get(f"{{{_OFFICE}}}date-value") or ""
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return _text(cell)
        return parsed.date() if len(raw) <= 10 else parsed
    if kind == "boolean":
        return cell.get(f"{{{_OFFICE}}}boolean-value") == "true"
    return _text(cell)


def _text(cell: Any) -> str | None:
    paragraphs = [" ".join("".join(p.itertext()).split()) for p in cell.iter(f"{{{_TEXT}}}p")]
    text = " ".join(p for p in paragraphs if p)
    return text or None


def _metadata(meta: bytes) -> dict[str, Any]:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(meta, parser)

    def first(tag: str) -> str | None:
        found = root.find(f".//{tag}")
        return text_value(found.text) if found is not None else None

    created = first(f"{{{_META}}}creation-date")
    modified = first(f"{{{_DC}}}date")
    return clean(
        {
            "title": first(f"{{{_DC}}}title"),
            "author": first(f"{{{_META}}}initial-creator") or first(f"{{{_DC}}}creator"),
            "created": iso_date(created),
            "modified": iso_date(modified),
            "language": language_tag(first(f"{{{_DC}}}language")),
        }
    )
