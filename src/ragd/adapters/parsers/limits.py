"""The limits a parse runs under: how much a parser may inflate, how many PDF pages, and
whether it may load the language model.

``ParserRegistry`` is built once from settings, but the per-format parsers are shared
module-level objects that take no settings, so the registry sets the limits for the
duration of each call in a context variable and the parsers read them from here. A parser
called outside a registry (a test, a script) gets the defaults, which are the settings'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ragd.adapters.parsers.archives import ArchiveLimits, MiB
from ragd.adapters.parsers.ocr.bounds import OcrLimits
from ragd.adapters.parsers.ocr.embedded import ImageLimits


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on the work one document may cause (settings ``RAGD_ARCHIVE_*``,
    ``RAGD_PDF_*``, ``RAGD_OCR_*``, ``RAGD_IMAGE_*``)."""

    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
    pdf_max_pages: int = 5_000
    pdf_max_stream_bytes: int = 64 * MiB
    detect_language: bool = True
    """Detect the language of text whose format does not state it (``RAGD_DETECT_LANGUAGE``)."""
    ocr: OcrLimits = field(default_factory=OcrLimits)
    images: ImageLimits = field(default_factory=ImageLimits)
    """Images embedded in PDF, DOCX and PPTX files (``RAGD_IMAGES_ENABLED``, ``RAGD_IMAGE_*``)."""


_DEFAULT = ParseLimits()
_CURRENT: ContextVar[ParseLimits | None] = ContextVar("ragd_parse_limits", default=None)


def current_limits() -> ParseLimits:
    return _CURRENT.get() or _DEFAULT


@contextmanager
def applied(limits: ParseLimits) -> Iterator[None]:
    """Run the body with ``limits`` in force (for this thread or task only)."""
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)
