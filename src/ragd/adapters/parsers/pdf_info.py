"""A PDF's document information dictionary as ragd's content metadata.

The Info dictionary holds ``/Author``, ``/CreationDate`` and ``/ModDate`` as PDF strings
(bytes in any of three encodings) and dates as ``D:YYYYMMDDHHmmSS+HH'mm'``, with every
part after the year optional; this turns them into the keys of ``content_metadata``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ragd.adapters.parsers.content_metadata import clean, text_value

_PDF_DATE = re.compile(
    r"^D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?"
)


def info_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """``author``, ``created`` and ``modified`` from the Info dictionary (title is the
    parser's own field)."""
    return clean(
        {
            "author": _string(info.get("Author")),
            "created": pdf_date(_string(info.get("CreationDate"))),
            "modified": pdf_date(_string(info.get("ModDate"))),
        }
    )


def _string(value: Any) -> str | None:
    if isinstance(value, bytes):
        if value.startswith((b"\xfe\xff", b"\xff\xfe")):
            return text_value(value.decode("utf-16", "replace"))
        return text_value(value.decode("utf-8", "replace"))
    return text_value(value) if isinstance(value, str) else None


def pdf_date(value: str | None) -> str | None:
    """``D:20240131120000+01'00'`` as ISO 8601; None when it is not a PDF date."""
    match = _PDF_DATE.match(value or "")
    if not match:
        return None
    year, month, day, hour, minute, second, sign, tz_hour, tz_minute = match.groups()
    try:
        tz: timezone | None = None
        if sign in ("Z", "z"):
            tz = UTC
        elif sign:
            offset = timedelta(hours=int(tz_hour or 0), minutes=int(tz_minute or 0))
            tz = timezone(offset if sign == "+" else -offset)
        stamp = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
    except (ValueError, OverflowError):
        return None
    return stamp.isoformat()
