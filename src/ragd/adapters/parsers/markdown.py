"""Markdown: sections keyed by their heading path, text kept close to the source.

markdown-it-py gives a token stream rather than HTML, which is what we need to follow the
heading stack. Inline markup is reduced to its visible text (link targets and emphasis
markers only add noise to embeddings) while list markers and code stay, since they carry
meaning a reader relies on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ragd.adapters.parsers.decoding import decode_text
from ragd.adapters.parsers.sections import SectionBuilder
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected

MARKDOWN = "text/markdown"
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


class MarkdownParser:
    media_types: frozenset[str] = frozenset({MARKDOWN, "text/x-markdown"})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:  # noqa: ARG002
        text = decode_text(data, what="markdown file")
        title, sections = markdown_sections(text)
        if not sections:
            raise DocumentRejected("markdown file has no text")
        return ParsedDocument(sections=sections, title=title)


def markdown_sections(text: str) -> tuple[str | None, list[Section]]:
    """Split markdown ``text`` into sections; returns (first h1 or None, sections)."""
    md = MarkdownIt("commonmark").enable("table")
    try:
        tokens = md.parse(text)
    except RecursionError as exc:  # pathologically nested input
        raise DocumentRejected("markdown file is nested too deeply to parse") from exc
    return _Walker(tokens).run()


class _Walker:
    """One pass over the flat token stream, tracking lists and tables by nesting."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = tokens
        self._out = SectionBuilder()
        self._title: str | None = None
        self._lists: list[list[int]] = []  # per open list: [next number or -1 for bullets]
        self._pending_marker: str | None = None
        self._row: list[str] | None = None
        self._rows: list[str] = []
        self._quote_depth = 0
        self._list_lines: list[str] = []  # a whole list becomes one block

    def run(self) -> tuple[str | None, list[Section]]:
        i = 0
        while i < len(self._tokens):
            i = self._step(i)
        return self._title, self._out.finish()

    def _step(self, i: int) -> int:
        tok = self._tokens[i]
        kind = tok.type
        if kind == "heading_open":
            inline = self._tokens[i + 1] if i + 1 < len(self._tokens) else None
            title = _inline_text(inline).strip() if inline is not None else ""
            level = int(tok.tag[1:]) if tok.tag[1:].isdigit() else 1
            if level == 1 and self._title is None and title:
                self._title = title
            self._out.heading(level, title)
            return i + 3  # heading_open, inline, heading_close
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = tok.attrGet("start")
            number = int(start) if isinstance(start, int | str) and str(start).isdigit() else 1
            self._lists.append([number if kind == "ordered_list_open" else -1])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            if self._lists:
                self._lists.pop()
            if not self._lists and self._list_lines:
                self._out.add("\n".join(self._list_lines))
                self._list_lines = []
        elif kind == "list_item_open" and self._lists:
            counter = self._lists[-1]
            if counter[0] < 0:
                self._pending_marker = "- "
            else:
                self._pending_marker = f"{counter[0]}. "
                counter[0] += 1
        elif kind == "blockquote_open":
            self._quote_depth += 1
        elif kind == "blockquote_close":
            self._quote_depth = max(0, self._quote_depth - 1)
        elif kind == "tr_open":
            self._row = []
        elif kind == "tr_close":
            if self._row is not None and any(cell for cell in self._row):
                self._rows.append(" | ".join(self._row))
            self._row = None
        elif kind == "table_close":
            self._emit("\n".join(self._rows))
            self._rows = []
        elif kind == "inline":
            self._inline(tok)
        elif kind in ("fence", "code_block"):
            self._emit(tok.content.rstrip("\n"))
        elif kind == "html_block":
            self._emit(_strip_tags(tok.content))
        return i + 1

    def _inline(self, tok: Token) -> None:
        text = _inline_text(tok).strip()
        if self._row is not None:
            self._row.append(" ".join(text.split()))
            return
        if self._lists:
            indent = "  " * (len(self._lists) - 1)
            marker = self._pending_marker or "  "
            self._pending_marker = None
            text = "\n".join(
                (indent + marker if n == 0 else indent + "  ") + line
                for n, line in enumerate(text.split("\n"))
            )
        self._emit(text)

    def _emit(self, text: str) -> None:
        if self._quote_depth:
            text = "\n".join("> " * self._quote_depth + line for line in text.split("\n"))
        if self._lists:
            self._list_lines.append(text)
        else:
            self._out.add(text)


def _inline_text(tok: Token | None) -> str:
    """Visible text of an inline token: link text, image alt, code, line breaks."""
    if tok is None:
        return ""
    if not tok.children:
        return tok.content
    parts: list[str] = []
    for child in tok.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content or _inline_text(child))
    return "".join(parts)


def _strip_tags(raw: str) -> str:
    """Text of an embedded HTML block (README badges, <details>): tags are noise here."""
    text = html.unescape(_TAG.sub(" ", _COMMENT.sub(" ", raw)))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
