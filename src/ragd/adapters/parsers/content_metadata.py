"""What a document says about itself: title, author, dates and language, as metadata.

Parsers fill ``ParsedDocument.metadata`` from the format's own properties (Office core
properties, PDF info, e-mail headers, EPUB's OPF); ``language`` is detected from the text
when the format did not state it. The keys are the same for every format, so one filter
(``{"metadata": {"language": "de"}}``, ``{"author": "..."}``) works across them:

``title``, ``author``, ``created``, ``modified`` (ISO 8601), ``language`` (ISO 639-1).

Values are short single-line strings (never bytes, never nested) so they pass the
metadata rules of ``domain.metadata`` whatever the file held.

Language detection is py3langid (a naive Bayes model over byte n-grams, numpy only, its
model inside the wheel, ~1 s to load once per process): a language is recorded only for
a sample long enough and a confident answer, so a table of numbers records none.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Any

MAX_VALUE_CHARS = 300
LANGUAGE_SAMPLE_CHARS = 4_000
MIN_LANGUAGE_LETTERS = 40
MIN_LANGUAGE_CONFIDENCE = 0.9
_LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def text_value(value: Any) -> str | None:
    """A property as one clean line of at most ``MAX_VALUE_CHARS``, or None when empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text[:MAX_VALUE_CHARS] or None


def iso_date(value: Any) -> str | None:
    """A date property in ISO 8601 (datetimes keep their offset when they have one)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        except ValueError:
            return None
    return None


def language_tag(value: Any) -> str | None:
    """A declared language ("en-GB", "de_DE", "fr") as its primary subtag ("en")."""
    text = text_value(value)
    match = _LANGUAGE_TAG.match(text or "")
    return match.group(1).lower() if match else None


def clean(metadata: dict[str, Any]) -> dict[str, Any]:
    """The entries with a value, strings trimmed to one line."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        shown = text_value(value) if isinstance(value, str | bytes) else value
        if shown is not None and shown != "":
            out[key] = shown
    return out


def core_metadata(props: Any) -> dict[str, Any]:
    """Title, author, dates and language from Office core properties (python-docx,
    python-pptx and openpyxl name them alike; openpyxl says ``creator``)."""
    author = getattr(props, "author", None) or getattr(props, "creator", None)
    return clean(
        {
            "title": text_value(getattr(props, "title", None)),
            "author": text_value(author),
            "created": iso_date(getattr(props, "created", None)),
            "modified": iso_date(getattr(props, "modified", None)),
            "language": language_tag(getattr(props, "language", None)),
        }
    )


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when unsure or too little text."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LANGUAGE_LETTERS:
        return None
    language, confidence = _identifier().classify(sample)
    return str(language) if confidence >= MIN_LANGUAGE_CONFIDENCE else None


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
