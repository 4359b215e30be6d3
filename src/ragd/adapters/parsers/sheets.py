"""One worksheet (XLSX, ODS) or CSV file as a table section, read row by row.

The formats differ in how rows arrive; what is done with them is shared: merged cells are
filled in (a merged header over several columns names each of them; a value merged down
over several rows belongs to each of them), the header row or rows are found among the
first rows, and every data row is written with its headers (``table_rows``). Only a few
rows are held at a time (the look-ahead for the header), so a sheet costs memory for its
text, not for a grid of its cells. The text of one file is bounded by ``TextBudget``: a
row repeated under long headers can render much larger than the file.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ragd.adapters.parsers.table_rows import (
    cell_text,
    header_names,
    looks_like_header,
    render_row,
)
from ragd.domain.models import Section
from ragd.errors import DocumentRejected

LOOKAHEAD_ROWS = 8
"""Rows read before deciding which of them are the header."""
MAX_HEADER_ROWS = 3
MAX_TEXT_CHARS = 128 * 1024 * 1024
"""Most text one spreadsheet or CSV file may render to (the sandbox's memory bound)."""


@dataclass(frozen=True, order=True)
class Merge:
    """A merged range: rows 1-based and inclusive, columns 0-based and inclusive."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int


@dataclass
class TextBudget:
    """Characters rendered so far from one file; refuses the file past ``limit``."""

    what: str
    limit: int = MAX_TEXT_CHARS
    used: int = 0

    def spend(self, chars: int) -> None:
        self.used += chars
        if self.used > self.limit:
            raise DocumentRejected(
                f"the {self.what} renders to more than {self.limit // (1024 * 1024)} million "
                "characters of text, more than one document may hold: split it into smaller files"
            )


@dataclass
class MergeFill:
    """Fills merged ranges in as rows stream past (ranges may be added as they are found)."""

    pending: list[Merge] = field(default_factory=list)
    active: list[Merge] = field(default_factory=list)
    anchors: dict[Merge, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        heapq.heapify(self.pending)

    def add(self, merge: Merge) -> None:
        if merge.last_row > merge.first_row or merge.last_col > merge.first_col:
            heapq.heappush(self.pending, merge)

    def apply(self, number: int, values: list[Any]) -> tuple[list[Any], list[Any]]:
        """Row ``number`` filled across and down (for header rows) and filled down only
        (for data rows, so one value is not repeated under several columns)."""
        while self.pending and self.pending[0].first_row <= number:
            self.active.append(heapq.heappop(self.pending))
        if not self.active:
            return values, values
        self.active = [m for m in self.active if m.last_row >= number]
        across = list(values)
        down = list(values)
        for merge in self.active:
            if merge.first_row == number:
                anchor = values[merge.first_col] if merge.first_col < len(values) else None
                self.anchors[merge] = anchor
            anchor = self.anchors.get(merge)
            if anchor is None:
                continue
            last = min(merge.last_col, merge.first_col + 1024)  # a range of 16,384 columns
            _ensure(across, last + 1)
            for col in range(merge.first_col, last + 1):
                if across[col] is None:
                    across[col] = anchor
            if merge.first_row < number:
                _ensure(down, merge.first_col + 1)
                if down[merge.first_col] is None:
                    down[merge.first_col] = anchor
        return across, down


def _ensure(values: list[Any], width: int) -> None:
    if len(values) < width:
        values.extend([None] * (width - len(values)))


def table_sections(
    rows: Iterable[tuple[list[Any], list[Any]]],
    *,
    heading_path: tuple[str, ...],
    budget: TextBudget,
    header: bool | None = None,
) -> Iterator[Section]:
    """The table section of one sheet from its rows as ``MergeFill.apply`` gives them
    (empty rows included or not). ``header``: True/False when the format knows (a CSV
    sniffer's answer), None to guess from the first rows."""
    stream = ((a, d) for a, d in rows if any(v is not None and v != "" for v in a))
    first = [next(stream, None) for _ in range(LOOKAHEAD_ROWS)]
    head = [r for r in first if r is not None]
    if not head:
        return
    if len(head) > 1 and _filled(head[0][0]) == 1 and _filled(head[1][0]) > 1:
        # A caption over the table ("Sales by region, 2024"): the rows' heading, not a row.
        caption = next(cell_text(v) for v in head[0][0] if cell_text(v))
        heading_path = (*heading_path, caption)
        head = head[1:]
    header_rows = _header_rows([a for a, _ in head]) if header is None else int(header)
    names = header_names([a for a, _ in head[:header_rows]]) if header_rows else None
    lines: list[str] = []
    for _, down in _chain(head[header_rows:], stream):
        line = render_row(down, names)
        if line:
            budget.spend(len(line) + 1)
            lines.append(line)
    if not lines:
        if names:  # a sheet of headers only
            yield Section(text=" | ".join(names), heading_path=heading_path)
        return
    yield Section(text="\n".join(lines), heading_path=heading_path, table_header="")


def _filled(values: list[Any]) -> int:
    """Distinct values in a row (one merged cell across the row counts once)."""
    return len({cell_text(v) for v in values if cell_text(v)})


def _chain(
    first: list[tuple[list[Any], list[Any]]], rest: Iterator[tuple[list[Any], list[Any]]]
) -> Iterator[tuple[list[Any], list[Any]]]:
    yield from first
    yield from rest


def _header_rows(rows: list[list[Any]]) -> int:
    """How many of the first rows are header rows (0 to ``MAX_HEADER_ROWS``).

    The first row is a header when ``looks_like_header`` says so; a row under it is part
    of the header too when the row above was filled across a merge (a group heading over
    several columns) and it also looks like a header of the rows below.
    """
    if not looks_like_header(rows[0], rows[1:]):
        return 0
    count = 1
    while count < min(MAX_HEADER_ROWS, len(rows) - 1):
        above, row = rows[count - 1], rows[count]
        spans = any(i > 0 and v is not None and v == above[i - 1] for i, v in enumerate(above))
        if not spans or not looks_like_header(row, rows[count + 1 :]):
            break
        count += 1
    return count
