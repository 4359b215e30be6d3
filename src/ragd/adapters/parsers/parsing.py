"""The Parsing port over the per-format parsers: detection, parsing and record splitting."""

from __future__ import annotations

from ragd.adapters.parsers.json_records import JSON, NDJSON, split_records
from ragd.adapters.parsers.limits import ParseLimits, applied
from ragd.adapters.parsers.registry import detect_media_type, parse_document
from ragd.domain.models import ParsedDocument, SourceRecord


class ParserRegistry:
    """Front over the module-level parser registry, parsing under the configured limits."""

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self._limits = limits or ParseLimits()

    def detect(self, source: str, head: bytes) -> str:
        return detect_media_type(source, head)

    def parse(self, data: bytes, media_type: str, *, source: str) -> ParsedDocument:
        with applied(self._limits):
            return parse_document(data, media_type, source=source)

    def split_records(
        self, data: bytes, media_type: str, *, source: str
    ) -> list[SourceRecord] | None:
        if media_type.split(";", 1)[0].strip().lower() not in (JSON, NDJSON):
            return None
        return split_records(data, media_type, source=source)
