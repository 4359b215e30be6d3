"""Parser port: bytes of one media type to text with its structure."""

from __future__ import annotations

from typing import Protocol

from ragd.domain.models import ParsedDocument


class Parser(Protocol):
    """Raises ``DocumentRejected`` (never anything else) for corrupt, empty or unreadable
    input, with a message a person can act on."""

    media_types: frozenset[str]

    def parse(self, data: bytes, *, source: str) -> ParsedDocument: ...
