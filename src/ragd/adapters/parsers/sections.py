"""Group blocks of text under the heading path they were written under.

Markdown, DOCX and EPUB all arrive as a flat stream of headings and blocks; retrieval wants
each chunk to know its ``h1 > h2 > ...`` path, so both parsers feed this builder.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragd.adapters.parsers.table_rows import table_section
from ragd.domain.models import Section


class SectionBuilder:
    """Collects blocks; every heading closes the current run and opens a new path."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self._sections: list[Section] = []
        self._headings: list[str] = []

    @property
    def heading_path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    def heading(self, level: int, title: str) -> None:
        """Start a section under ``title``; lower or equal levels are closed first."""
        title = " ".join(title.split())
        if not title:
            return
        self._flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        self._headings.append(title)

    def add(self, text: str) -> None:
        if text.strip():
            self._blocks.append(text.strip("\n"))

    def table(self, rows: Sequence[Sequence[str | None]]) -> None:
        """A table in its place: a section of its own, its first row the header kept with
        every chunk of it (a one-row table is an ordinary block)."""
        section = table_section(rows, heading_path=self.heading_path)
        if section is None:
            return
        if section.table_header is None:
            self.add(section.text)
            return
        self._flush()
        self._sections.append(section)

    def finish(self) -> list[Section]:
        """The sections so far; a document of headings only still yields its headings."""
        self._flush()
        if not self._sections and self._headings:
            return [Section(text="\n".join(self._headings))]
        return list(self._sections)

    def _flush(self) -> None:
        if self._blocks:
            self._sections.append(
                Section(text="\n\n".join(self._blocks), heading_path=self.heading_path)
            )
            self._blocks = []
