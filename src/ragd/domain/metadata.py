"""What a document's metadata, title and source name may hold: one rule for every way in.

Metadata is JSON chosen by whoever uploads, stored as JSON(B) and sent back with the
document in every listing, search hit and answer. A value that a later read cannot handle
would break all of those for the whole tenant: nesting deeper than a parser or serialiser
recurses, NaN or Infinity (not JSON; Postgres refuses them), NUL (Postgres text and JSONB
refuse it), a lone surrogate (not UTF-8). So uploads are checked here before anything is
stored, and rows stored before these checks existed are checked again when shown
(``shown_metadata``, ``shown_title``): a bad field is replaced, never a failed request.

The walk is iterative and stops at the first limit passed, so its cost is bounded by the
limits, not by the input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from ragd.errors import InvalidRequest

MAX_METADATA_DEPTH = 10
"""Levels of objects and arrays, the metadata object itself being the first."""
MAX_METADATA_BYTES = 32 * 1024
"""Size of the metadata as compact UTF-8 JSON."""
MAX_METADATA_KEYS = 1000
"""Keys of all its objects together."""
MAX_METADATA_KEY_CHARS = 256
MAX_TITLE_CHARS = 500
MAX_SOURCE_CHARS = 1000
RAW_METADATA_CHARS = 4 * MAX_METADATA_BYTES
"""The most JSON text parsed for metadata sent as a string (multipart): room for
indentation, while the parse stays bounded."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NESTING = str.maketrans({"{": "\x01", "[": "\x01", "}": "\x02", "]": "\x02"})


def _check_text(value: str, what: str) -> None:
    if _UNSTORABLE.search(value):
        raise InvalidRequest(f"{what} contains a NUL character or a lone surrogate")


def check_metadata(value: object) -> dict[str, Any]:
    """``value`` itself when it is storable metadata; ``InvalidRequest`` saying why not."""
    if not isinstance(value, dict):
        raise InvalidRequest("metadata must be a JSON object")
    reserved = sorted(k for k in value if isinstance(k, str) and k.startswith("_ragd"))
    if reserved:
        # The Index keeps a chunk's collection and allow-list under this prefix.
        raise InvalidRequest(f"metadata keys starting with '_ragd' are reserved: {reserved[0]!r}")
    keys = 0
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_METADATA_BYTES:  # every value takes at least one byte of JSON
            raise InvalidRequest(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
        if isinstance(item, dict | list) and depth > MAX_METADATA_DEPTH:
            raise InvalidRequest(f"metadata nests deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(item, dict):
            keys += len(item)
            if keys > MAX_METADATA_KEYS:
                raise InvalidRequest(f"metadata has more than {MAX_METADATA_KEYS} keys")
            for key, child in item.items():
                _check_key(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_text(item, "a metadata value")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidRequest("metadata numbers must be finite (no NaN or Infinity)")
        elif not (item is None or isinstance(item, int)):  # int covers bool
            raise InvalidRequest(f"metadata cannot hold a {type(item).__name__}")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:  # e.g. an integer with more digits than Python prints
        raise InvalidRequest(f"metadata cannot be written as JSON: {exc}") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return value


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidRequest("metadata keys must be non-empty strings")
    if len(key) > MAX_METADATA_KEY_CHARS:
        raise InvalidRequest(f"a metadata key is longer than {MAX_METADATA_KEY_CHARS} characters")
    _check_text(key, "a metadata key")


def parse_metadata(raw: str) -> dict[str, Any]:
    """Metadata sent as JSON text (a multipart field), parsed within the limits.

    Python's ``json`` module recurses once per level, so the nesting is measured on the text
    first (string literals removed, then a running count of brackets); NaN and Infinity,
    which ``json`` accepts by default, are refused as they are read.
    """
    if len(raw) > RAW_METADATA_CHARS:
        raise InvalidRequest(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    if _max_nesting(_JSON_STRING.sub("", raw)) > MAX_METADATA_DEPTH:
        raise InvalidRequest(f"metadata nests deeper than {MAX_METADATA_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # bad JSON, NaN/Infinity, a huge integer
        raise InvalidRequest(f"metadata is not valid JSON: {exc}") from None
    return check_metadata(value)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (metadata numbers must be finite)")


def _max_nesting(text: str) -> int:
    steps: Iterable[int] = (
        1 if c == "\x01" else -1 for c in text.translate(_NESTING) if c in "\x01\x02"
    )
    return max(accumulate(steps, initial=0))


def check_title(title: str) -> str:
    """``title`` when it can be stored and shown; ``InvalidRequest`` saying why not."""
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(f"title is longer than {MAX_TITLE_CHARS} characters")
    _check_text(title, "title")
    return title


def check_source(source: str, what: str = "source") -> str:
    """A document's source name (the file name of an upload) under the same rules."""
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidRequest(f"{what} is longer than {MAX_SOURCE_CHARS} characters")
    _check_text(source, what)
    return source


def shown_metadata(value: object) -> tuple[dict[str, Any], str | None]:
    """Stored metadata as it may be shown: itself, or ``{}`` and the reason it was not."""
    try:
        return check_metadata(value), None
    except InvalidRequest as exc:
        return {}, str(exc)


def shown_title(title: str) -> tuple[str, str | None]:
    """A stored title as it may be shown: itself, or a cut and cleaned copy and why."""
    try:
        return check_title(title), None
    except InvalidRequest as exc:
        cleaned = _UNSTORABLE.sub("\ufffd", title)
        if len(cleaned) > MAX_TITLE_CHARS:
            cleaned = cleaned[: MAX_TITLE_CHARS - 1] + "…"
        return cleaned, str(exc)
