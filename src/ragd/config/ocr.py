"""OCR: which engine reads scanned PDF pages and images, and the bounds on its work."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragd.config.section import Section, env

OcrEngine = Literal["rapidocr", "tesseract", "off"]


class OcrSettings(Section):
    """The engine and the limits of ``ragd.adapters.parsers.ocr``."""

    engine: OcrEngine = Field(validation_alias="ocr_engine")
    dpi: int = Field(validation_alias="ocr_dpi")
    max_pixels: int = Field(validation_alias="ocr_max_pixels")
    page_timeout_seconds: float = Field(validation_alias="ocr_page_timeout_seconds")
    document_timeout_seconds: float = Field(validation_alias="ocr_document_timeout_seconds")
    max_pages: int = Field(validation_alias="ocr_max_pages")
    threads: int = Field(validation_alias="ocr_threads")
    memory_mb: int = Field(validation_alias="ocr_memory_mb")


class OcrFields(BaseModel):
    """The environment variables of ``OcrSettings``."""

    ocr_engine: OcrEngine = Field("rapidocr", validation_alias=env("RAGD_OCR_ENGINE"))
    """``rapidocr`` (PP-OCRv6 on ONNX Runtime, models in the wheel), ``tesseract`` (the
    Debian program) or ``off`` (scanned pages and images are refused)."""
    ocr_dpi: int = Field(200, ge=50, le=600, validation_alias=env("RAGD_OCR_DPI"))
    """Resolution a PDF page is rendered at for OCR."""
    ocr_max_pixels: int = Field(
        12_000_000, ge=100_000, le=100_000_000, validation_alias=env("RAGD_OCR_MAX_PIXELS")
    )
    """A rendered page or an image frame is scaled down to at most this many pixels."""
    ocr_page_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=env("RAGD_OCR_PAGE_TIMEOUT_SECONDS")
    )
    ocr_document_timeout_seconds: float = Field(
        100.0, gt=0, validation_alias=env("RAGD_OCR_DOCUMENT_TIMEOUT_SECONDS")
    )
    """OCR time one file may take; the parse sandbox's own limit
    (``RAGD_PARSE_TIMEOUT_SECONDS``) caps it, less a margin."""
    ocr_max_pages: int = Field(1_000, ge=1, validation_alias=env("RAGD_OCR_MAX_PAGES"))
    """Pages one file may need OCR on; a file with more fails before reading them all."""
    ocr_threads: int = Field(2, ge=1, le=64, validation_alias=env("RAGD_OCR_THREADS"))
    """Threads one page's OCR may use (ONNX Runtime intra-op, or Tesseract's OpenMP)."""
    ocr_memory_mb: int = Field(1024, ge=0, validation_alias=env("RAGD_OCR_MEMORY_MB"))
    """Added to the parse process's address-space cap (``RAGD_PARSE_MEMORY_MB``) while
    OCR is on: the engine's models and buffers (600-800 MB at peak on a 200-dpi page)."""

    @property
    def ocr(self) -> OcrSettings:
        return OcrSettings.of(self)
