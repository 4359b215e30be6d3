"""Pages rendered from known text, for the OCR tests and ``bench/ocr.py``.

Fonts come with pip packages the tests already install: reportlab's Bitstream Vera
(TrueType) and its URW Type 1 look-alikes of Times, Courier and Helvetica, so the same
pages render on any machine. Each page is the known text wrapped to a 200-dpi letter page
(1700 px wide), optionally rotated (a skewed scan) and noised (grain and specks); the
character error rate compares what OCR reads with the text, whitespace folded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

PARAGRAPHS = (
    "The quarterly report for 2024 shows revenue of 1,284,300 EUR, an increase of 12.5% "
    "over the previous year. Operating costs fell to 734,900 EUR after the move to the "
    "new warehouse in Rotterdam.",
    "Invoice 58213 is due on 15 March 2025. Please quote the reference AB-7731 when you "
    "pay, and send questions to accounts@example.org or call +31 20 555 0147.",
    "Photosynthesis converts light energy into chemical energy stored in glucose. The "
    "light reactions take place in the thylakoid membranes; the Calvin cycle fixes carbon "
    "dioxide in the stroma.",
    "Safety notice: keep the pressure below 6 bar and the temperature between 15 and 35 "
    "degrees Celsius. Replace the filter every 500 hours of operation.",
)

FONTS: dict[str, str] = {
    "vera-sans": "Vera.ttf",
    "vera-bold": "VeraBd.ttf",
    "times": "_er_____.pfb",
    "courier": "com_____.pfb",
    "helvetica": "_a______.pfb",
}
"""Name → file in reportlab's fonts folder."""

PAGE_WIDTH = 1700
MARGIN = 120


@dataclass(frozen=True)
class Sample:
    """One page to render: its text, font, size in pixels, skew in degrees, noise 0-1."""

    text: str
    font: str
    size: int
    skew: float = 0.0
    noise: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.font}/{self.size}px/skew{self.skew:g}/noise{self.noise:g}"


def font_path(name: str) -> Path:
    import reportlab

    return Path(reportlab.__file__).parent / "fonts" / FONTS[name]


def render(sample: Sample, *, seed: int = 0):  # type: ignore[no-untyped-def]
    """The page as a greyscale PIL image."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path(sample.font)), sample.size)
    lines = _wrap(sample.text, font, PAGE_WIDTH - 2 * MARGIN)
    step = int(sample.size * 1.6)
    height = max(2 * MARGIN + step * len(lines), 400)
    page = Image.new("L", (PAGE_WIDTH, height), 255)
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + i * step), line, font=font, fill=0)
    if sample.skew:
        page = page.rotate(sample.skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    if sample.noise:
        rng = np.random.default_rng(seed)
        pixels = np.asarray(page, dtype=np.float32)
        pixels += rng.normal(0, 60 * sample.noise, pixels.shape)
        specks = rng.random(pixels.shape)
        pixels[specks < 0.01 * sample.noise] = 0
        pixels[specks > 1 - 0.01 * sample.noise] = 255
        page = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return page


def png(sample: Sample, *, seed: int = 0) -> bytes:
    out = io.BytesIO()
    render(sample, seed=seed).save(out, format="PNG")
    return out.getvalue()


def normalise(text: str) -> str:
    return " ".join(text.split())


def cer(expected: str, got: str) -> float:
    """Character error rate: edit distance / length of the expected text (whitespace
    folded to single spaces on both sides)."""
    a, b = normalise(expected), normalise(got)
    if not a:
        return float(bool(b))
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / len(a)


def _wrap(text: str, font, width: int) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def image_bytes(sample: Sample, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    render(sample).save(out, format=fmt)
    return out.getvalue()


def tiff_pages(samples: list[Sample]) -> bytes:
    """A multi-page TIFF, one sample per frame."""
    frames = [render(s) for s in samples]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def mixed_pdf(pages: list[str | Sample]) -> bytes:
    """A PDF whose ``str`` pages are typed text (a text layer, reportlab) and whose
    ``Sample`` pages are images of text with no text layer, like a scan."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=letter)
    width, height = letter
    for page in pages:
        if isinstance(page, str):
            text = pdf.beginText(72, height - 72)
            text.setFont("Helvetica", 11)
            for line in _wrap_chars(page, 90):
                text.textLine(line)
            pdf.drawText(text)
        else:
            image = render(page)
            shown = width * image.height / image.width
            pdf.drawImage(ImageReader(image), 0, height - shown, width=width, height=shown)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def scanned_pdf(pages: int, sample: Sample) -> bytes:
    """``pages`` pages showing one image: the image is stored once and each page refers
    to it, so 5,000 pages cost a few hundred kB."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=letter)
    width, height = letter
    image = render(sample)
    shown = width * image.height / image.width
    pdf.drawImage(ImageReader(image), 0, height - shown, width=width, height=shown)
    pdf.showPage()
    for _ in range(pages - 1):
        pdf.drawImage(ImageReader(image), 0, height - shown, width=width, height=shown)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _wrap_chars(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]
