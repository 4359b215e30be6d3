"""Images (PNG, JPEG, TIFF, multi-page TIFF), read by OCR, one section per page.

Each frame of a TIFF is a page. The header's size is checked before anything is decoded
(``MAX_IMAGE_PIXELS``), and a frame larger than ``RAGD_OCR_MAX_PIXELS`` is scaled down
(JPEG while it is decoded, others after) before it reaches the engine. A page with text
is an image chunk (``kind: "image"``) with a preview, like a picture inside a PDF
(``embedded``), so it has a thumbnail and a vision model may caption it.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any

from ragd.adapters.parsers.failures import describe
from ragd.adapters.parsers.ocr.bounds import MAX_IMAGE_PIXELS, OcrBudget
from ragd.adapters.parsers.ocr.engines import PageTimeout, get_engine
from ragd.domain.models import DocumentImage, ParsedDocument, Section
from ragd.errors import DocumentRejected

if TYPE_CHECKING:
    from PIL.Image import Image

PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"

log = logging.getLogger(__name__)


class ImageParser:
    media_types: frozenset[str] = frozenset({PNG, JPEG, TIFF})

    def parse(self, data: bytes, *, source: str) -> ParsedDocument:
        from PIL import Image, ImageSequence, UnidentifiedImageError

        from ragd.adapters.parsers.limits import current_limits
        from ragd.adapters.parsers.ocr.embedded import preview

        parse_limits = current_limits()
        limits = parse_limits.ocr
        keep_previews = parse_limits.images.enabled
        previews: list[DocumentImage] = []
        if not limits.enabled:
            raise DocumentRejected("images are read by OCR, which is off (RAGD_OCR_ENGINE=off)")
        budget = OcrBudget(limits, what="image")
        sections: list[Section] = []
        try:
            with warnings.catch_warnings():  # the size is checked here, below
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
            with img:
                for number, frame in enumerate(ImageSequence.Iterator(img), start=1):
                    _check_size(frame.size)
                    seconds = budget.next_page(number)
                    page = prepared(frame, limits.max_pixels)
                    engine = get_engine(limits.engine, limits.threads)
                    try:
                        result = engine.read(page, timeout=seconds)
                    except PageTimeout:
                        budget.out_of_time(number)
                        raise
                    del page
                    has_text = bool(result.text.strip())
                    meta: dict[str, Any] = {"ocr_engine": engine.name}
                    if result.confidence is not None and has_text:
                        meta["ocr_confidence"] = result.confidence
                    if keep_previews and len(previews) < parse_limits.images.max_per_document:
                        # An image chunk like a picture inside a PDF: kind, preview
                        # (thumbnail, vision caption). A page without text keeps its
                        # preview too, as an empty section: a vision model configured
                        # for the worker may still caption it (a photo, a diagram).
                        key = str(len(previews) + 1)
                        previews.append(DocumentImage(key=key, data=preview(frame)))
                        meta.update(kind="image", image=key, page=number)
                        sections.append(Section(text=result.text, page=number, metadata=meta))
                    elif has_text:
                        sections.append(Section(text=result.text, page=number, metadata=meta))
        except Image.DecompressionBombError as exc:
            raise DocumentRejected(
                f"the image is larger than the {MAX_IMAGE_PIXELS:,} pixels ragd decodes"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            log.info("image %s unreadable: %s", source, describe(exc))
            raise DocumentRejected(f"the image cannot be read: {describe(exc)}") from exc
        if not sections:
            raise DocumentRejected("OCR found no text in the image")
        # Sections may all be empty here (pages kept for a caption): the worker rejects
        # the document after captioning if it still has no text (``NO_IMAGE_TEXT``).
        return ParsedDocument(sections=sections, images=previews)


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise DocumentRejected(
            f"the image is {width:,} x {height:,} pixels, more than the "
            f"{MAX_IMAGE_PIXELS:,} ragd decodes"
        )


def prepared(frame: Image, max_pixels: int) -> Image:
    """The frame decoded, greyscale, and no larger than ``max_pixels``."""
    width, height = frame.size
    factor = math.sqrt(width * height / max_pixels) if width * height > max_pixels else 1.0
    if factor > 1 and frame.format == "JPEG":
        frame.draft("L", (int(width / factor), int(height / factor)))
    page = frame.convert("L")
    if page.width * page.height > max_pixels:
        page.thumbnail((int(width / factor), int(height / factor)))
    return page
