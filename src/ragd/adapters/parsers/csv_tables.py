"""CSV and TSV: the dialect sniffed, the header row found, every row with its headers.

The file is read line by line (``readline`` with a limit), so a line longer than
``MAX_LINE_CHARS`` is refused after reading that many characters of it, not after
materialising it, and the rows go one at a time through ``sheets.table_sections``: the
memory a CSV costs is its text, once. The delimiter is sniffed from the first
``SNIFF_CHARS`` among ``, ; TAB |`` (a ``.tsv`` file is tab-separated whatever the
sniffer says); the header row is guessed as for spreadsheets (``table_rows``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from ragd.adapters.parsers.decoding import decode_text
from ragd.adapters.parsers.sheets import TextBudget, table_sections
from ragd.domain.models import ParsedDocument
from ragd.errors import DocumentRejected

CSV = "text/csv"
TSV = "text/tab-separated-values"
MAX_LINE_CHARS = 256 * 1024
"""The longest line read: a longer one is not a table row anyone wrote by hand or export."""
MAX_FIELD_CHARS = MAX_LINE_CHARS
SNIFF_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"


class CsvParser:
    media_types: frozenset[str] = frozenset({CSV, TSV})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        text = decode_text(data, what="CSV file")
        del data
        dialect = _dialect(text, tab=source.lower().endswith((".tsv", ".tab")))
        budget = TextBudget("CSV file")
        lines = _Lines(text)
        rows = _rows(csv.reader(lines, dialect), lines)
        sections = list(table_sections(rows, heading_path=(), budget=budget))
        if not sections:
            raise DocumentRejected("the CSV file has no values")
        return ParsedDocument(sections=sections)


class _Lines:
    """The text's lines, each refused past ``MAX_LINE_CHARS`` before it is read whole."""

    def __init__(self, text: str) -> None:
        self._stream = io.StringIO(text)
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._stream.readline(MAX_LINE_CHARS + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) > MAX_LINE_CHARS:
            raise DocumentRejected(
                f"line {self.number:,} of the CSV file is longer than {MAX_LINE_CHARS:,} "
                "characters: it is not a table ragd can read row by row"
            )
        return line


def _rows(reader: Iterator[list[str]], lines: _Lines) -> Iterator[tuple[list[Any], list[Any]]]:
    previous = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        for row in reader:
            values: list[Any] = [cell if cell.strip() else None for cell in row]
            yield values, values
    except csv.Error as exc:
        raise DocumentRejected(
            f"the CSV file is malformed near line {lines.number:,}: a quoted field never "
            f"ends, or a field is longer than {MAX_FIELD_CHARS:,} characters"
        ) from exc
    finally:
        csv.field_size_limit(previous)


def _dialect(text: str, *, tab: bool) -> type[csv.Dialect] | csv.Dialect:
    if tab:
        return csv.excel_tab
    sample = text[:SNIFF_CHARS]
    cut = sample.rfind("\n")
    if 0 < cut < len(sample) - 1:
        sample = sample[:cut]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel
