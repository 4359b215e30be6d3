"""Rows of a spreadsheet or CSV as text a chunk can be understood by alone.

A chunk holding "North | Q1 | 1200" answers nothing; "Region: North | Quarter: Q1 |
Revenue: 1200" answers "what was the revenue in the north in Q1". So every data row is
written with its column headers, when the sheet has a header row, and the chunker keeps
rows whole (``domain.tables``). Which row is the header is guessed the way people lay out
sheets: the first non-empty row, when its cells are distinct pieces of text and the rows
below hold something else (a number, a date) in at least one of its columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from ragd.domain.models import Section

CELL_SEPARATOR = " | "
MAX_CELL_CHARS = 2_000
"""A cell is cut there in the text (the rest of a huge cell says little a search needs)."""


def cell_text(value: Any) -> str:
    """A cell's value as text: whole floats without ``.0``, dates in ISO form, one line."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    text = " ".join(str(value).split())
    return text[:MAX_CELL_CHARS]


def column_label(index: int) -> str:
    """Spreadsheet column name of a 0-based index: 0 -> A, 26 -> AA."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(65 + rest) + label
    return label


def looks_like_header(first: Sequence[Any], below: Sequence[Sequence[Any]]) -> bool:
    """Whether ``first`` (raw cell values) names the columns of the rows ``below``.

    Every filled cell must be text, they must be distinct (but for neighbours filled from
    one merged cell), and at least one column whose
    header is text must hold a non-text value (number, date) below it, or, for sheets of
    text only, the header must be shorter than the cells under it on average.
    """
    filled = [(i, v) for i, v in enumerate(first) if cell_text(v)]
    if not filled or not all(isinstance(v, str) for _, v in filled):
        return False
    names = [cell_text(v).casefold() for _, v in filled]
    if all(_parses_as_number(n) for n in names):  # a row of numbers written as text (CSV)
        return False
    distinct = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]  # merged
    if len(set(distinct)) != len(distinct):
        return False
    if not below:
        return True
    for i, _ in filled:
        for row in below:
            value = row[i] if i < len(row) else None
            if value is not None and not isinstance(value, str) and _parses_as_number(value):
                return True
    header_chars = sum(len(cell_text(v)) for _, v in filled) / len(filled)
    body = [cell_text(row[i]) for row in below for i, _ in filled if i < len(row)]
    body = [b for b in body if b]
    if not body:
        return True
    if any(_parses_as_number(b) for b in body) and not any(_parses_as_number(n) for n in names):
        return True
    return header_chars <= sum(len(b) for b in body) / len(body)


def _parses_as_number(value: Any) -> bool:
    if not isinstance(value, str):
        return isinstance(value, int | float | date | time)
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


def header_names(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Column names from one or more header rows: stacked header rows ("2024" over
    "Q1") are joined with a space; a column with no name gets its letter."""
    width = max((len(r) for r in rows), default=0)
    names: list[str] = []
    for i in range(width):
        parts: list[str] = []
        for row in rows:
            text = cell_text(row[i]) if i < len(row) else ""
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        names.append(" ".join(parts) or column_label(i))
    return names


def render_row(values: Sequence[Any], names: Sequence[str] | None) -> str:
    """``name: value`` for every filled cell (``value`` alone without headers), on one line."""
    out: list[str] = []
    for i, value in enumerate(values):
        text = cell_text(value)
        if not text:
            continue
        if names is None:
            out.append(text)
        else:
            name = names[i] if i < len(names) else column_label(i)
            out.append(f"{name}: {text}")
    return CELL_SEPARATOR.join(out)


def plain_rows(rows: Sequence[Sequence[str | None]]) -> tuple[str, str]:
    """A document table (PDF, DOCX, PPTX) as ``(header line, body lines)``: the first
    non-empty row is its header, every row ``a | b | c`` on one line."""
    lines = []
    for row in rows:
        cells = [" ".join((cell or "").split()) for cell in row]
        if any(cells):
            lines.append(CELL_SEPARATOR.join(cells))
    if not lines:
        return "", ""
    return lines[0], "\n".join(lines[1:])


def table_section(
    rows: Sequence[Sequence[str | None]],
    *,
    page: int | None = None,
    heading_path: tuple[str, ...] = (),
) -> Section | None:
    """A document table as a table section (header kept with every chunk of it); a table
    of one row is plain text, having no rows for a header to describe."""
    header, body = plain_rows(rows)
    if not header:
        return None
    if not body:
        return Section(text=header, page=page, heading_path=heading_path)
    return Section(text=body, page=page, heading_path=heading_path, table_header=header)
