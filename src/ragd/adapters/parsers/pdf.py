"""PDF: text per page, with tables kept as ``cell | cell`` rows under their header row.

pdfplumber (on pdfminer) is used rather than pypdf because it finds ruled tables; their
characters are filtered out of the running text so each cell is indexed once. Pages are
processed one at a time and their caches dropped, so memory follows the largest page,
not the whole file. Work is bounded: at most ``RAGD_PDF_MAX_PAGES`` pages, and no stream
inflates past ``RAGD_PDF_MAX_STREAM_BYTES`` (``pdf_streams``). A page without a usable
text layer is read by OCR (``ocr.pdf_pages``), within the ``RAGD_OCR_*`` bounds; the
images on a typed page are read apart, as image sections (``ocr.embedded``).
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Callable
from typing import Any

from ragd.adapters.parsers.failures import describe, phrase
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.ocr.embedded import EmbeddedImages, pdf_page_images
from ragd.adapters.parsers.ocr.pdf_pages import PdfOcr
from ragd.adapters.parsers.pdf_info import info_metadata
from ragd.adapters.parsers.pdf_streams import install as install_bounded_filters
from ragd.adapters.parsers.table_rows import table_section
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected, RagdError

PDF = "application/pdf"

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]  # x0, top, x1, bottom


class PdfParser:
    media_types: frozenset[str] = frozenset({PDF})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        import pdfplumber
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

        install_bounded_filters()
        limits = current_limits()
        ocr = PdfOcr(data, limits.ocr)
        images = EmbeddedImages(limits.images, limits.ocr, ocr.budget)
        try:
            with pdfplumber.open(io.BytesIO(data)) as pdf:
                _check_page_count(pdf, limits.pdf_max_pages)
                title = _title(pdf.metadata)
                metadata = info_metadata(pdf.metadata)
                sections: list[Section] = []
                for number, page in enumerate(pdf.pages, start=1):
                    try:
                        typed = _page_sections(page, number)
                        read = ocr.page_sections(page, number, typed)
                        sections.extend(read)
                        if read is typed and images.active and page.images:
                            # A typed page keeps its text; its pictures are read apart.
                            sections.extend(pdf_page_images(ocr.document(), number, images))
                    finally:
                        page.close()
        except Exception as exc:  # pdfminer raises dozens of types on damaged files
            cause = _unwrap(exc)
            if isinstance(cause, RagdError):  # a bound (DocumentRejected) or the OCR set-up
                raise cause from exc
            if isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError):
                raise DocumentRejected(
                    "the PDF is encrypted and cannot be read without a password"
                ) from exc
            log.info("PDF %s unreadable: %s", source, describe(cause))
            raise DocumentRejected(f"the PDF cannot be read: {phrase(cause)}") from exc
        finally:
            ocr.close()
        if not any(s.text.strip() for s in sections):
            raise DocumentRejected(ocr.empty_reason())
        if images.skipped:
            metadata["images_skipped"] = images.skipped
        return ParsedDocument(
            sections=sections, title=title, metadata=metadata, images=images.images
        )


def _check_page_count(pdf: Any, most: int) -> None:
    """Count pages lazily up to ``most`` + 1, before pdfplumber lists them all."""
    from pdfminer.pdfpage import PDFPage

    pages = sum(1 for _ in itertools.islice(PDFPage.create_pages(pdf.doc), most + 1))
    if pages > most:
        raise DocumentRejected(
            f"the PDF has more than {most:,} pages, the most read from one file "
            "(RAGD_PDF_MAX_PAGES)"
        )


def _page_sections(page: Any, number: int) -> list[Section]:
    """Running text and tables of one page, in reading order from top to bottom."""
    tables = sorted(page.find_tables(), key=lambda t: t.bbox[1])
    boxes: list[BBox] = [tuple(t.bbox) for t in tables]
    out: list[Section | None] = []
    cursor = float("-inf")
    for table, box in zip(tables, boxes, strict=True):
        out.append(Section(text=_text_between(page, cursor, box[1], boxes), page=number))
        out.append(table_section(table.extract(), page=number))
        cursor = max(cursor, box[3])
    out.append(Section(text=_text_between(page, cursor, float("inf"), boxes), page=number))
    return [s for s in out if s is not None and s.text.strip()]


def _text_between(page: Any, top: float, bottom: float, tables: list[BBox]) -> str:
    """Text whose characters sit vertically in [top, bottom) and outside every table."""

    def keep(obj: dict[str, Any]) -> bool:
        if obj.get("object_type") != "char":
            return True
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        if not top <= y < bottom:
            return False
        return not any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in tables)

    predicate: Callable[[dict[str, Any]], bool] = keep
    text: str = page.filter(predicate).extract_text() or ""
    return text.strip()


def _title(metadata: dict[str, Any]) -> str | None:
    raw = metadata.get("Title")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "ignore")
    if isinstance(raw, str) and raw.strip():
        return " ".join(raw.split())
    return None


def _unwrap(exc: BaseException) -> BaseException:
    """pdfplumber wraps pdfminer's errors in ``PdfminerException``; the cause says more."""
    if type(exc).__name__ == "PdfminerException" and exc.args:
        inner = exc.args[0]
        if isinstance(inner, BaseException):
            return inner
    return exc
