"""Plain text: decoded as-is into a single section; the chunker does the splitting."""

from __future__ import annotations

from ragd.adapters.parsers.decoding import decode_text
from ragd.domain.models import ParsedDocument, Section

PLAIN_TEXT = "text/plain"


class TextParser:
    media_types: frozenset[str] = frozenset({PLAIN_TEXT})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:  # noqa: ARG002
        return ParsedDocument(sections=[Section(text=decode_text(data, what="text file"))])
