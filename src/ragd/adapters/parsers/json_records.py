"""JSON and JSON Lines: record corpora split into documents, anything else flattened.

A BEIR-style corpus (``{"_id", "title", "text", "metadata"}`` per line) is thousands of
documents in one file; indexing it as one document would make every hit cite the same
source, so ``split_records`` cuts it into ``SourceRecord``s for the ingestion service.
JSON that is not record-shaped (a config, an API response) is still searchable through
``JsonParser``, which flattens it to ``key.path: value`` lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ragd.adapters.parsers.decoding import decode_text
from ragd.domain.models import ParsedDocument, Section, SourceRecord
from ragd.errors import DocumentRejected

JSON = "application/json"
NDJSON = "application/x-ndjson"

TEXT_FIELDS = ("text", "content", "body")
ID_FIELDS = ("_id", "id")


def split_records(
    data: bytes,
    media_type: str,
    *,
    source: str,  # noqa: ARG001
) -> list[SourceRecord] | None:
    """One ``SourceRecord`` per record, or None when the JSON is not a list of records.

    Records are objects with a string ``text``/``content``/``body``; the key is their
    ``_id``/``id`` or else their 1-based line (JSONL) or position (array).
    """
    values = _numbered_values(decode_text(data, what="JSON file"), media_type)
    if values is None or not any(_is_record(v) for _, v in values.items):
        return None
    records: list[SourceRecord] = []
    seen: dict[str, int] = {}
    for number, value in values.items:
        where = f"{values.unit} {number}"
        if not _is_record(value):
            raise DocumentRejected(
                f"{where} is not a record: expected an object with one of "
                f"{', '.join(TEXT_FIELDS)} as a string"
            )
        record = _record(value, default_key=str(number))
        if record.key in seen:
            raise DocumentRejected(
                f"{where} repeats record id {record.key!r} "
                f"(first seen at {values.unit} {seen[record.key]})"
            )
        seen[record.key] = number
        records.append(record)
    return records


class JsonParser:
    """Flattens any JSON (or JSON Lines) value into one searchable section."""

    media_types: frozenset[str] = frozenset({JSON, NDJSON})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:  # noqa: ARG002
        value = _load_json_or_lines(decode_text(data, what="JSON file"))
        if isinstance(value, _Lines):
            value = [v for _, v in value.items]
        lines = flatten(value)
        if not lines:
            raise DocumentRejected("JSON document has no values to index")
        raw_title = value.get("title") if isinstance(value, dict) else None
        title = raw_title.strip() if isinstance(raw_title, str) else ""
        return ParsedDocument(sections=[Section(text="\n".join(lines))], title=title or None)


def flatten(value: Any) -> list[str]:
    """``a.b[0].c: value`` lines, depth-first in document order, without recursion."""
    lines: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            children = [(f"{path}.{k}" if path else str(k), v) for k, v in item.items()]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(item)]))
        else:
            rendered = _scalar(item)
            if rendered:
                lines.append(f"{path}: {rendered}" if path else rendered)
    return lines


@dataclass(frozen=True)
class _Lines:
    """Values with their 1-based line (JSON Lines) or item (JSON array) numbers."""

    items: list[tuple[int, Any]]
    unit: str = "line"


def _numbered_values(text: str, media_type: str) -> _Lines | None:
    """The candidate records of a file, or None when it is a single non-array value."""
    if _base(media_type) == NDJSON:
        return _load_lines(text)
    value = _load_json_or_lines(text)
    if isinstance(value, _Lines):
        return value
    if isinstance(value, list):
        return _Lines(list(enumerate(value, start=1)), unit="item")
    return None


def _load_json_or_lines(text: str) -> Any:
    """A JSON value; JSON Lines saved as ``.json`` is recognised by its "extra data"."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and "\n" in text.strip():
            first_line = text.lstrip().split("\n", 1)[0]
            if _parses(first_line):
                return _load_lines(text)
        raise DocumentRejected(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise DocumentRejected("JSON is nested too deeply to read") from exc


def _load_lines(text: str) -> _Lines:
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DocumentRejected(
                f"line {number} is not valid JSON (column {exc.colno}: {exc.msg})"
            ) from exc
        except RecursionError as exc:
            raise DocumentRejected(f"line {number} is nested too deeply to read") from exc
    return _Lines(items)


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return True


def _is_record(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(value.get(f), str) for f in TEXT_FIELDS)


def _record(value: dict[str, Any], *, default_key: str) -> SourceRecord:
    text_field = next(f for f in TEXT_FIELDS if isinstance(value.get(f), str))
    key_field = next((f for f in ID_FIELDS if value.get(f) not in (None, "")), None)
    key = str(value[key_field]) if key_field else default_key
    raw_title = value.get("title")
    title = " ".join(str(raw_title).split()) if raw_title is not None else ""
    metadata: dict[str, Any] = {}
    for name, item in value.items():
        if name in (text_field, key_field, "title"):
            continue
        if name == "metadata" and isinstance(item, dict):
            metadata.update(item)
        else:
            metadata[name] = item
    return SourceRecord(key=key, title=title or None, text=value[text_field], metadata=metadata)


def _scalar(value: Any) -> str:
    """Strings as written (no quotes), numbers/booleans/null in their JSON spelling."""
    return value.strip() if isinstance(value, str) else json.dumps(value)


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()
