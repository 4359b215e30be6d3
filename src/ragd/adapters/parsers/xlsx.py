"""XLSX and XLSM workbooks: each sheet a section, each row written with its headers.

openpyxl reads the workbook in read-only (streaming) mode with ``data_only``, so a
formula gives the value Excel cached when it last saved the file (a formula never
calculated has none, and is left out); macros are never read. The zip is opened through
``archives`` first: its directory is checked against the archive limits, and openpyxl is
handed a stored copy holding only the XML parts, each inflated within those limits.

Two things are done to the sheet XML on the way, because openpyxl's streaming reader
spends ~20 µs per row element in Python: self-closing rows and cells (formatting with no
value, as in a sheet "formatted down to row 1,048,576") are dropped, and merged ranges
(which read-only mode does not report) are read from the ``mergeCell`` elements.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from ragd.adapters.parsers.archives import SafeArchive, open_archive
from ragd.adapters.parsers.content_metadata import core_metadata
from ragd.adapters.parsers.failures import phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.sheets import Merge, MergeFill, TextBudget, table_sections
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM = "application/vnd.ms-excel.sheet.macroenabled.12"  # media types are case-blind
_WHAT = "spreadsheet"

_EMPTY_ROW = re.compile(rb"<(?:\w+:)?row\b[^>]*/>")
_EMPTY_CELL = re.compile(rb"<(?:\w+:)?c\b[^>]*/>")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=[\"']([A-Z]+)(\d+):([A-Z]+)(\d+)[\"']")
_SHEET_PART = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)

log = logging.getLogger(__name__)


class XlsxParser:
    media_types: frozenset[str] = frozenset({XLSX, XLSM})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        import openpyxl

        archive = open_archive(data, current_limits().archive, what=_WHAT)
        package, merges = _repack(archive)
        budget = TextBudget(_WHAT)
        sections: list[Section] = []
        try:
            workbook = openpyxl.load_workbook(
                io.BytesIO(package), read_only=True, data_only=True, keep_links=False
            )
            try:
                for sheet in workbook.worksheets:
                    sections.extend(_sheet(sheet, merges, budget))
                metadata = core_metadata(workbook.properties)
            finally:
                workbook.close()
        except DocumentRejected:
            raise
        except Exception as exc:  # openpyxl, lxml and zipfile raise their own types
            log.info("XLSX %s unreadable: %s: %s", source, type(exc).__name__, exc)
            raise DocumentRejected(f"the spreadsheet cannot be read: {phrase(exc)}") from exc
        if not sections:
            raise DocumentRejected("the spreadsheet has no cells with values")
        title = metadata.pop("title", None)
        return ParsedDocument(sections=sections, title=title, metadata=metadata)


def _repack(archive: SafeArchive) -> tuple[bytes, dict[str, list[Merge]]]:
    """A stored copy of the XML parts (empty rows and cells dropped from the sheets) and
    the merged ranges of each sheet part."""
    merges: dict[str, list[Merge]] = {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for member in archive.members:
            name = member.name
            if not name.lower().endswith((".xml", ".rels")):
                zf.writestr(name, b"")
                continue
            body = archive.read(name)
            if _SHEET_PART.match(name):
                body = _EMPTY_CELL.sub(b"", _EMPTY_ROW.sub(b"", body))
                merges[name] = [_merge(m) for m in _MERGE.finditer(body)]
            zf.writestr(name, body)
    return out.getvalue(), merges


def _merge(match: re.Match[bytes]) -> Merge:
    c1, r1, c2, r2 = (g.decode() for g in match.groups())
    return Merge(int(r1), _column(c1), int(r2), _column(c2))


def _column(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def _sheet(sheet: Any, merges: dict[str, list[Merge]], budget: TextBudget) -> list[Section]:
    if getattr(sheet, "sheet_state", "visible") == "veryHidden":
        return []
    path = str(getattr(sheet, "_worksheet_path", "")).lstrip("/")
    sheet.reset_dimensions()  # rows as stored, not padded to a declared (maybe huge) size
    fill = MergeFill(list(merges.get(path, [])))
    return list(table_sections(_rows(sheet, fill), heading_path=(str(sheet.title),), budget=budget))


def _rows(sheet: Any, fill: MergeFill) -> Iterator[tuple[list[Any], list[Any]]]:
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if values:
            yield fill.apply(number, list(values))
