"""How much OCR one document may cost: the limits and the budget that enforces them.

OCR is the slowest thing a parser does (about a second a page on one core) and a scanned
PDF can have thousands of pages, so the work is bounded three ways: pages rasterised at a
capped resolution (memory), a time limit per page and per document, and a number of
pages. A document that passes a bound fails as a whole with the reason, rather than being
indexed in part: a half-read file that says "indexed" would be worse than a clear refusal
the uploader can act on (split the file, or raise the limit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ragd.errors import DocumentRejected

ENGINES = ("rapidocr", "tesseract", "off")
MAX_IMAGE_PIXELS = 100_000_000
"""An image file larger than this is refused before it is decoded (a decompression bomb
costs its header's width x height in memory, not its file size)."""


@dataclass(frozen=True)
class OcrLimits:
    """Settings ``RAGD_OCR_*``; the defaults are the settings' defaults."""

    engine: str = "rapidocr"
    dpi: int = 200
    max_pixels: int = 12_000_000
    page_timeout_seconds: float = 30.0
    document_timeout_seconds: float = 100.0
    max_pages: int = 1_000
    threads: int = 2

    @property
    def enabled(self) -> bool:
        return self.engine != "off"


class OcrBudget:
    """Counts a document's OCR pages and time; raises ``DocumentRejected`` past a bound."""

    def __init__(self, limits: OcrLimits, *, what: str) -> None:
        self.limits = limits
        self._what = what
        self._started = time.monotonic()
        self.pages = 0

    def seconds_left(self) -> float:
        """What is left of the document's OCR time."""
        return self.limits.document_timeout_seconds - (time.monotonic() - self._started)

    def next_page(self, number: int) -> float:
        """Account for one more page to OCR; the seconds that page may take."""
        if self.pages >= self.limits.max_pages:
            raise DocumentRejected(
                f"the {self._what} needs OCR on more than {self.limits.max_pages:,} pages, "
                "the most read from one file (RAGD_OCR_MAX_PAGES); nothing was indexed: "
                "split the file or raise the limit"
            )
        self.pages += 1
        left = self.limits.document_timeout_seconds - (time.monotonic() - self._started)
        if left <= 0:
            self.out_of_time(number)
        return min(self.limits.page_timeout_seconds, left)

    def out_of_time(self, number: int) -> None:
        """Raise the reason a page did not finish: the page's bound or the document's."""
        elapsed = time.monotonic() - self._started
        if elapsed >= self.limits.document_timeout_seconds:
            raise DocumentRejected(
                f"OCR of the {self._what} took longer than "
                f"{self.limits.document_timeout_seconds:g} seconds "
                f"(RAGD_OCR_DOCUMENT_TIMEOUT_SECONDS) and stopped at page {number:,} "
                f"after {self.pages - 1:,} pages read by OCR; nothing was indexed: split the "
                "file or raise the limit"
            )
        raise DocumentRejected(
            f"OCR of page {number:,} of the {self._what} took longer than "
            f"{self.limits.page_timeout_seconds:g} seconds (RAGD_OCR_PAGE_TIMEOUT_SECONDS); "
            "nothing was indexed"
        )
