"""The PDF parser's per-page OCR hook: which pages need it, and reading them.

Decided per page, not per file: a page keeps its text layer when it has one worth the
name, and is rasterised and read by OCR when it has none (or only a few characters, or
``(cid:NN)`` glyphs without a Unicode mapping) and an image covers most of it. A PDF of
typed pages with a few scanned ones therefore gives both. Pages are rendered one at a time
with pdfium (``pypdfium2``, which pdfplumber itself renders with), at ``RAGD_OCR_DPI``
but never more than ``RAGD_OCR_MAX_PIXELS`` pixels, and each bitmap is released before the
next page, so memory follows one page whatever the page count.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING, Any

from ragd.adapters.parsers.ocr.bounds import OcrBudget, OcrLimits
from ragd.adapters.parsers.ocr.engines import PageTimeout, get_engine, time_limit
from ragd.domain.models import Section

if TYPE_CHECKING:
    from PIL.Image import Image

_CID = re.compile(r"\(cid:\d+\)")
MIN_TEXT_CHARS = 20
"""Fewer letters and digits than this on a page is no text layer (a page number, a stamp)."""
MOSTLY_IMAGE = 0.6
MOSTLY_IMAGE_TEXT_CHARS = 200
"""A page mostly covered by an image is OCR'd unless its text layer has this much text."""


def usable_chars(sections: list[Section]) -> int:
    """Letters and digits of a page's extracted text, unmapped glyphs left out."""
    return sum(ch.isalnum() for s in sections for ch in _CID.sub("", s.text))


def image_cover(page: Any) -> float:
    """The share of the page's area its images cover (overlaps counted twice, capped)."""
    area = float(page.width) * float(page.height)
    if area <= 0:
        return 0.0
    covered = 0.0
    for im in page.images:
        w = min(float(im["x1"]), float(page.width)) - max(float(im["x0"]), 0.0)
        h = min(float(im["bottom"]), float(page.height)) - max(float(im["top"]), 0.0)
        covered += max(w, 0.0) * max(h, 0.0)
    return min(covered / area, 1.0)


def needs_ocr(page: Any, sections: list[Section]) -> bool:
    chars = usable_chars(sections)
    if chars >= MOSTLY_IMAGE_TEXT_CHARS or not page.images:
        return False
    return chars < MIN_TEXT_CHARS or image_cover(page) >= MOSTLY_IMAGE


class PdfOcr:
    """OCR for the pages of one PDF that need it; ``close`` releases the rendered file."""

    def __init__(self, data: bytes, limits: OcrLimits) -> None:
        self._data = data
        self._limits = limits
        self._budget = OcrBudget(limits, what="PDF")
        self._pdf: Any = None

    @property
    def budget(self) -> OcrBudget:
        """The document's OCR budget, which its embedded images draw on too."""
        return self._budget

    def document(self) -> Any:
        """The file opened by pdfium (once), for rendering and for its images."""
        import pypdfium2 as pdfium

        if self._pdf is None:
            self._pdf = pdfium.PdfDocument(self._data)
        return self._pdf

    @property
    def pages_read(self) -> int:
        return self._budget.pages

    def page_sections(self, page: Any, number: int, sections: list[Section]) -> list[Section]:
        """``sections`` (the page's text layer), or the page read by OCR when it needs it."""
        if not self._limits.enabled or not needs_ocr(page, sections):
            return sections
        seconds = self._budget.next_page(number)
        engine = get_engine(self._limits.engine, self._limits.threads)
        started = time.monotonic()
        try:
            with time_limit(seconds):
                image = self._render(number)
            left = seconds - (time.monotonic() - started)
            if left <= 0:
                raise PageTimeout
            result = engine.read(image, timeout=left)
        except PageTimeout:
            self._budget.out_of_time(number)
            raise  # out_of_time always raises; this keeps the type checker informed
        if not result.text.strip():
            return sections
        meta: dict[str, Any] = {"ocr_engine": engine.name}
        if result.confidence is not None:
            meta["ocr_confidence"] = result.confidence
        return [Section(text=result.text, page=number, metadata=meta)]

    def empty_reason(self) -> str:
        """Why a PDF gave no text at all, for its rejection."""
        if not self._limits.enabled:
            return (
                "the PDF has no extractable text, and OCR, which would read scanned pages, "
                "is off (RAGD_OCR_ENGINE=off)"
            )
        if self._budget.pages:
            return f"the PDF has no extractable text: OCR found none on {self._budget.pages} pages"
        return "the PDF has no extractable text and no scanned page to read"

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def _render(self, number: int) -> Image:
        """Page ``number`` (1-based) as a greyscale image within the pixel cap."""
        page = self.document()[number - 1]
        try:
            width, height = page.get_size()
            scale = render_scale(width, height, self._limits)
            bitmap = page.render(scale=scale, grayscale=True)
            try:
                image: Image = bitmap.to_pil().copy()
                return image
            finally:
                bitmap.close()
        finally:
            page.close()


def render_scale(width_pt: float, height_pt: float, limits: OcrLimits) -> float:
    """Pixels per point: ``RAGD_OCR_DPI``, lowered so the page fits ``RAGD_OCR_MAX_PIXELS``."""
    scale = limits.dpi / 72
    area = max(width_pt * height_pt, 1.0)
    return min(scale, math.sqrt(limits.max_pixels / area))
