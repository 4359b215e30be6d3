"""Parser port: bytes of one media type to text with its structure."""

from __future__ import annotations

from typing import Protocol

from ragd.domain.models import ParsedDocument, SourceRecord


class Parser(Protocol):
    """Raises ``DocumentRejected`` (never anything else) for corrupt, empty or unreadable
    input, with a message a person can act on."""

    media_types: frozenset[str]

    def parse(self, data: bytes, *, source: str) -> ParsedDocument: ...


class Parsing(Protocol):
    """All parsers behind one front: what the ingestion service needs from them."""

    def detect(self, source: str, head: bytes) -> str:
        """Media type from name and first bytes; ``UnsupportedMediaType`` if unknown."""
        ...

    def parse(self, data: bytes, media_type: str, *, source: str) -> ParsedDocument: ...

    def split_records(
        self, data: bytes, media_type: str, *, source: str
    ) -> list[SourceRecord] | None:
        """Many documents in one file (JSONL / BEIR corpus), or None for a single document."""
        ...
