"""Document parsers: one module per format, chosen through ``registry``."""

from ragd.adapters.parsers.json_records import JsonParser, split_records
from ragd.adapters.parsers.registry import (
    EXTENSIONS,
    SUPPORTED_MEDIA_TYPES,
    detect_media_type,
    get_parser,
    parse_document,
)

__all__ = [
    "EXTENSIONS",
    "SUPPORTED_MEDIA_TYPES",
    "JsonParser",
    "detect_media_type",
    "get_parser",
    "parse_document",
    "split_records",
]
