"""Documents with pictures in them, built by the tests: a chart with text drawn into it,
on a typed PDF page, in a DOCX and on a PPTX slide, and the worst cases of embedded
images (thousands of icons, one huge image, a corrupt image stream)."""

from __future__ import annotations

import io
import zlib

from tests.ocr_samples import PARAGRAPHS, Sample, font_path, render

CHART_TEXT = "Zorblat sales peaked in Q4 at 8412 units"
TYPED_TEXT = "The annual report covers the widget business, its markets and its staff."


def chart(text: str = CHART_TEXT, size: tuple[int, int] = (900, 500)):  # type: ignore[no-untyped-def]
    """A bar chart whose title is its only text: what only OCR (or a caption) can read."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(font_path("vera-sans")), 34)
    for i, h in enumerate([120, 260, 200, 330]):
        draw.rectangle([100 + i * 180, 450 - h, 200 + i * 180, 450], fill=(40, 90, 200))
    draw.text((60, 20), text, font=font, fill="black")
    return img


def chart_png(text: str = CHART_TEXT) -> bytes:
    out = io.BytesIO()
    chart(text).save(out, format="PNG")
    return out.getvalue()


def report_pdf(
    *,
    photographed: bool = True,
    icons: int = 1,
    typed: str = TYPED_TEXT,
    chart_text: str = CHART_TEXT,
) -> bytes:
    """Page 1: typed text, a chart image and ``icons`` 16-pixel icons; page 2 (when
    ``photographed``): a photographed page, an image of text with no text layer."""
    from PIL import Image
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=letter)
    width, height = letter
    text = pdf.beginText(72, height - 72)
    text.setFont("Helvetica", 11)
    for line in _lines(typed, 95):
        text.textLine(line)
    pdf.drawText(text)
    pdf.drawImage(ImageReader(chart(chart_text)), 72, 300, width=450, height=250)
    icon = ImageReader(Image.new("RGB", (16, 16), "red"))
    for i in range(icons):
        pdf.drawImage(icon, 20 + (i % 100) * 3, 20 + (i // 100) % 50 * 3, width=2, height=2)
    pdf.showPage()
    if photographed:
        page = render(Sample(PARAGRAPHS[1], "vera-sans", 30, skew=1.0, noise=0.2))
        shown = width * page.height / page.width
        pdf.drawImage(ImageReader(page), 0, height - shown, width=width, height=shown)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _lines(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)[:20] or [""]


def report_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(TYPED_TEXT)
    document.add_picture(io.BytesIO(chart_png()))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def report_pptx() -> bytes:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[5])
    first.shapes.title.text = "Overview"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Sales"
    second.shapes.add_picture(io.BytesIO(chart_png()), Inches(1), Inches(2))
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def pdf_with_raw_image(width: int, height: int, stream: bytes, *, text: str = TYPED_TEXT) -> bytes:
    """A one-page PDF with typed text and one image XObject of the declared size whose
    stream is ``stream`` (Flate-encoded greyscale): a huge image costs its declared size
    only when decoded, and a corrupt stream is one that does not inflate."""
    content = (f"BT /F1 11 Tf 72 720 Td ({text}) Tj ET q 400 0 0 200 72 300 cm /Im1 Do Q").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % (width, height, len(stream))
        + stream
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def huge_image_pdf(side: int = 20_000) -> bytes:
    """A ``side`` x ``side`` greyscale image (400 M pixels at 20,000) that deflates from
    a few hundred kB."""
    compressor = zlib.compressobj(9)
    row = b"\xff" * side
    parts = [compressor.compress(row) for _ in range(side)]
    return pdf_with_raw_image(side, side, b"".join(parts) + compressor.flush())


def corrupt_image_pdf() -> bytes:
    return pdf_with_raw_image(600, 400, b"this is not a deflate stream" * 10)
