"""OCR: scanned PDF pages and images read by a local engine (RapidOCR or Tesseract).

``bounds`` holds the limits and the per-document budget, ``engines`` the engine choice,
``rapid`` and ``tesseract`` the two engines, ``pdf_pages`` the per-page hook of the PDF
parser and ``images`` the parser of PNG, JPEG and TIFF files.
"""

from ragd.adapters.parsers.ocr.bounds import OcrLimits

__all__ = ["OcrLimits"]
