"""Images embedded in a document (PDF, DOCX, PPTX) read by OCR into image sections.

A chart or a scanned figure on an otherwise typed page holds text the text layer lacks.
Each such image becomes a section of its own, metadata ``{"kind": "image", "image": key,
"page", "bbox", "ocr_engine", "ocr_confidence"}``, so its chunks can be cited as the
image; a shrunk preview of it (``DocumentImage``) goes with the parse, for the vision
model's caption and the thumbnail route.

The work is bounded so a hostile file cannot make it large: an image under
``RAGD_IMAGE_MIN_PIXELS`` (icons, rules, bullets) is passed over by its declared size
before anything is decoded, at most ``RAGD_IMAGE_MAX_PER_DOCUMENT`` images are read, one
larger than ``MAX_DECODE_FACTOR`` x ``RAGD_OCR_MAX_PIXELS`` is skipped undecoded, an image
that does not decode is skipped, and the OCR time comes out of the document's OCR budget
(``RAGD_OCR_DOCUMENT_TIMEOUT_SECONDS``): an image that takes longer than
``RAGD_OCR_PAGE_TIMEOUT_SECONDS`` is skipped, and no image is started once less than that
is left of the document's time. What was skipped is counted (``images_skipped`` in the
document's metadata), not fatal: the text is worth indexing without its pictures.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragd.adapters.parsers.ocr.bounds import OcrBudget, OcrLimits
from ragd.adapters.parsers.ocr.engines import PageTimeout, get_engine
from ragd.domain.models import DocumentImage, JsonScalar, Section
from ragd.errors import DocumentRejected

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

PREVIEW_SIDE = 768
"""Longest side of the preview kept per image (what a vision model sees, and the thumbnail)."""
MAX_DECODE_FACTOR = 2
"""An embedded image is decoded only up to this many times ``RAGD_OCR_MAX_PIXELS``."""


@dataclass(frozen=True)
class ImageLimits:
    """Settings ``RAGD_IMAGES_ENABLED``, ``RAGD_IMAGE_*``; the defaults are theirs."""

    enabled: bool = True
    max_per_document: int = 50
    min_pixels: int = 16_384


BBox = tuple[float, float, float, float]


class EmbeddedImages:
    """One document's embedded images: which to read, reading them, and their previews."""

    def __init__(self, limits: ImageLimits, ocr: OcrLimits, budget: OcrBudget | None = None):
        self.limits = limits
        self.ocr = ocr
        self._budget = budget or OcrBudget(ocr, what="document's images")
        self.images: list[DocumentImage] = []
        self.skipped = 0
        """Images big enough to read that were not: over a bound, or undecodable."""

    @property
    def active(self) -> bool:
        return self.limits.enabled and self.ocr.enabled

    def wants(self, width: int, height: int) -> bool:
        """Whether an image of this declared size is read; counts it as skipped when it
        is big enough to matter but over a bound."""
        if not self.active or width * height < self.limits.min_pixels or min(width, height) < 8:
            return False
        if len(self.images) >= self.limits.max_per_document:
            self.skipped += 1
            return False
        if width * height > MAX_DECODE_FACTOR * self.ocr.max_pixels:
            log.info("embedded image of %d x %d pixels skipped (over the cap)", width, height)
            self.skipped += 1
            return False
        return True

    def read(self, image: Image, *, page: int | None, bbox: BBox | None) -> Section | None:
        """The image's section (its OCR text, possibly empty: a vision model may still
        caption it) and its preview; ``None`` when it cannot be converted."""
        from ragd.adapters.parsers.ocr.images import prepared

        try:
            small = preview(image)
            grey = prepared(image, self.ocr.max_pixels)
        except (OSError, ValueError, SyntaxError) as exc:
            log.info("embedded image unreadable: %s", exc)
            self.skipped += 1
            return None
        if self._budget.seconds_left() < self.ocr.page_timeout_seconds:
            # Pictures are worth less than the document: when its OCR time runs short they
            # are skipped (and counted), so the text and any scanned page still get read.
            self.skipped += 1
            return None
        seconds = self._budget.next_page(page or len(self.images) + 1)
        engine = get_engine(self.ocr.engine, self.ocr.threads)
        try:
            result = engine.read(grey, timeout=seconds)
        except PageTimeout:  # this picture alone: skipped, the document goes on
            log.info("an embedded image took longer than %g s to read: skipped", seconds)
            self.skipped += 1
            return None
        key = str(len(self.images) + 1)
        self.images.append(DocumentImage(key=key, data=small))
        meta: dict[str, JsonScalar] = {"kind": "image", "image": key, "ocr_engine": engine.name}
        if page is not None:
            meta["page"] = page
        if bbox is not None:
            meta["bbox"] = ",".join(f"{v:.1f}" for v in bbox)
        if result.confidence is not None:
            meta["ocr_confidence"] = result.confidence
        return Section(text=result.text, page=page, metadata=meta)

    def read_bytes(self, data: bytes, *, page: int | None) -> Section | None:
        """An image file's bytes (a DOCX or PPTX media part), checked by its header first."""
        import warnings

        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
                img = PILImage.open(io.BytesIO(data))
            with img:
                if not self.wants(*img.size):
                    return None
                img.load()
                return self.read(img, page=page, bbox=None)
        except (UnidentifiedImageError, PILImage.DecompressionBombError, OSError, ValueError,
                SyntaxError) as exc:  # fmt: skip
            log.info("embedded image part unreadable: %s", exc)
            self.skipped += 1
            return None


def pdf_page_images(pdf: Any, number: int, reader: EmbeddedImages) -> list[Section]:
    """The image sections of PDF page ``number`` (1-based), top to bottom; ``pdf`` is a
    ``pypdfium2.PdfDocument``. Only the images' declared sizes are read before choosing."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    page = pdf[number - 1]
    found: list[tuple[float, Section]] = []
    try:
        height = float(page.get_height())
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=4):
            try:
                width_px, height_px = obj.get_px_size()
                if not reader.wants(width_px, height_px):
                    continue
                left, bottom, right, top = obj.get_bounds()
                bitmap = obj.get_bitmap(render=False)
                image = bitmap.to_pil().copy()
                del bitmap  # pdfium's buffer, freed by its finaliser
            except (pdfium.PdfiumError, OSError, ValueError) as exc:  # a corrupt stream
                log.info("PDF page %d: an image is unreadable: %s", number, exc)
                reader.skipped += 1
                continue
            # Top-left origin, as pdfplumber and the page's text positions use.
            bbox = (left, height - top, right, height - bottom)
            section = reader.read(image, page=number, bbox=bbox)
            del image
            if section is not None:
                found.append((bbox[1], section))
    finally:
        page.close()
    return [s for _, s in sorted(found, key=lambda f: f[0])]


def part_images(archive: Any, part: Any, reader: EmbeddedImages, page: int | None) -> list[Section]:
    """The image sections of one python-docx / python-pptx part (a document body, a slide):
    its image relationships, in their order, each read from ``archive`` (``SafeArchive``,
    so every member inflates within the archive limits; the package python-docx and
    python-pptx were given holds no image bytes)."""
    found: list[Section] = []
    seen: set[str] = set()
    for rel in list(part.rels.values()):
        if rel.is_external or not str(rel.reltype).endswith("/image"):
            continue
        name = str(rel.target_part.partname).lstrip("/")
        if name in seen or name not in archive:
            continue
        seen.add(name)
        if not reader.active or len(reader.images) >= reader.limits.max_per_document:
            reader.skipped += reader.active
            continue
        try:
            data = archive.read(name)
        except DocumentRejected as exc:  # over the archive's per-part or total bound
            log.info("embedded image %s not read: %s", name, exc)
            reader.skipped += 1
            continue
        section = reader.read_bytes(data, page=page)
        if section is not None:
            found.append(section)
    return found


def preview(image: Image) -> bytes:
    """A PNG of ``image`` at most ``PREVIEW_SIDE`` pixels a side, resized before any mode
    conversion so a large frame is never copied at full size."""
    width, height = image.size
    scale = min(1.0, PREVIEW_SIDE / max(width, height, 1))
    if scale < 1:
        small = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    else:
        small = image.copy()
    if small.mode not in ("L", "RGB"):
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()
