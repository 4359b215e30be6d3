"""Tables laid out for chunking: whole rows, with the header row in front of every chunk.

A windowed chunker cuts where the tokens run out, which for a table means mid-row and,
after the first chunk, without the header row that says what the columns are: the
retrieved chunk "Gold | 19.32 | 1064" answers nothing. So before chunking, each table
section (``Section.table_header`` not None, one row per line) is cut into pieces of whole
rows that fit in one chunk together with the header, and every piece starts with the
header. The pieces are ordinary sections from then on: each fits, so each becomes exactly
one chunk, and a chunk's text is still a slice of the laid-out document text (the header
appears once per piece in that text).

The one exception: a row that does not fit in a chunk even alone (with the header) cannot
be kept whole; it becomes a piece of its own, header first, and the chunker splits it
like any long text.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ragd.domain.models import Section

if TYPE_CHECKING:
    from ragd.domain.chunking import SpanTokenizer

ROW_SEPARATOR = "\n"
COUNT_WINDOW_CHARS = 65_536
"""Most text tokenised at once while counting rows (the tokenizer's memory grows with it)."""


def lay_out_tables(
    sections: Sequence[Section],
    tokenizer: SpanTokenizer,
    *,
    max_tokens: int,
    window_chars: int = COUNT_WINDOW_CHARS,
) -> list[Section]:
    """``sections`` with every table replaced by pieces of whole rows, each under its
    header and at most ``max_tokens`` tokens long (but a row too long for any chunk)."""
    out: list[Section] = []
    for section in sections:
        if section.table_header is None:
            out.append(section)
        else:
            out.extend(_pieces(section, tokenizer, max_tokens, window_chars))
    return out


def _pieces(
    section: Section, tokenizer: SpanTokenizer, max_tokens: int, window_chars: int
) -> Iterator[Section]:
    rows = [row for row in section.text.split(ROW_SEPARATOR) if row.strip()]
    header = (section.table_header or "").strip()
    header_cost = _count(tokenizer, header + ROW_SEPARATOR) if header else 0
    if header_cost > max_tokens // 2:
        # A header that fills half a chunk would crowd out the rows it describes: it is
        # kept once, as the first row, instead of in front of every piece.
        rows.insert(0, header)
        header, header_cost = "", 0
    lead = [header] if header else []
    current: list[str] = []
    used = header_cost
    for row, cost in zip(rows, _row_costs(rows, tokenizer, window_chars), strict=True):
        if current and used + cost > max_tokens:
            yield _piece(section, lead + current)
            current, used = [], header_cost
        current.append(row)
        used += cost
    if current:
        yield _piece(section, lead + current)


def _piece(section: Section, lines: list[str]) -> Section:
    return replace(section, text=ROW_SEPARATOR.join(lines), table_header=None)


def _row_costs(rows: list[str], tokenizer: SpanTokenizer, window_chars: int) -> Iterator[int]:
    """Tokens of each row with its line break, tokenising many rows at once: one tokenizer
    call per window of rows rather than one per row."""
    group: list[str] = []
    size = 0
    for row in rows:
        if group and size + len(row) + 1 > window_chars:
            yield from _group_costs(group, tokenizer)
            group, size = [], 0
        group.append(row)
        size += len(row) + 1
    if group:
        yield from _group_costs(group, tokenizer)


def _group_costs(group: list[str], tokenizer: SpanTokenizer) -> list[int]:
    """Each token counts for the row its first character is in (a line-break token counts
    for the row it ends)."""
    starts: list[int] = []
    offset = 0
    for row in group:
        starts.append(offset)
        offset += len(row) + len(ROW_SEPARATOR)
    costs = [0] * len(group)
    for start, _ in tokenizer.token_spans(ROW_SEPARATOR.join(group) + ROW_SEPARATOR):
        costs[bisect_right(starts, start) - 1] += 1
    return costs


def _count(tokenizer: SpanTokenizer, text: str) -> int:
    return len(tokenizer.token_spans(text))
