"""Documents built by real libraries at test time, so no binary fixtures are checked in."""

from __future__ import annotations

import io
import zipfile

import pytest

ARTICLE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Understanding Photosynthesis | Green Leaf Blog</title></head>
<body>
<header><div class="logo">Zebracorp masthead</div></header>
<nav><ul><li><a href="/">Homepage quicklink</a></li>
  <li><a href="/shop">Storefront</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies. Accept all cookies
  to continue browsing. <button>Acceptcookies</button></div>
<main><article>
<h1>Understanding Photosynthesis</h1>
<p>Photosynthesis is the process by which green plants convert light energy into chemical
energy stored in glucose molecules. It sustains nearly all life on Earth.</p>
<h2>Light reactions</h2>
<p>The light-dependent reactions take place in the thylakoid membranes of chloroplasts,
where water is split and ATP and NADPH are produced for the next stage.</p>
<h2>Calvin cycle</h2>
<p>The Calvin cycle uses ATP and NADPH to fix carbon dioxide into three-carbon sugars
inside the stroma, which the plant later assembles into glucose.</p>
</article></main>
<aside>Sponsored sidebar widget</aside>
<footer>Copyright Zebracorp footer 2024 all rights reserved</footer>
<script>var trackingPixel = "xyzzy";</script>
</body></html>
"""


@pytest.fixture(scope="session")
def article_html() -> bytes:
    """A blog page: one real article wrapped in navigation, banners and tracking."""
    return ARTICLE_HTML.encode()


@pytest.fixture(scope="session")
def two_page_pdf() -> bytes:
    """Page 1: a paragraph and a ruled table; page 2: a paragraph."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    table = Table([["Metal", "Density"], ["Iron", "7.87"], ["Gold", "19.32"]])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
    story = [
        Paragraph("Introduction to metallurgy on the first page.", styles["Normal"]),
        table,
        Paragraph("Closing remark after the table.", styles["Normal"]),
        PageBreak(),
        Paragraph("Second page discusses alloys and corrosion.", styles["Normal"]),
    ]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Metals Handbook").build(story)
    return buf.getvalue()


@pytest.fixture(scope="session")
def image_only_pdf() -> bytes:
    """A page with shapes but no text layer, like a scan."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    pdf.rect(100, 100, 200, 200, fill=1)
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


@pytest.fixture(scope="session")
def encrypted_pdf() -> bytes:
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    enc = StandardEncryption("user-secret", ownerPassword="owner-secret", strength=128)
    pdf = canvas.Canvas(buf, encrypt=enc)
    pdf.drawString(100, 700, "Top secret text")
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


@pytest.fixture(scope="session")
def sample_docx() -> bytes:
    """Title, Heading 1/2 structure, body paragraphs and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Field Guide", level=0)
    document.add_paragraph("Opening words of the guide.")
    document.add_heading("Birds", level=1)
    document.add_paragraph("Birds are feathered vertebrates.")
    document.add_heading("Raptors", level=2)
    document.add_paragraph("Raptors hunt with talons.")
    table = document.add_table(rows=3, cols=2)
    for row, (name, span) in zip(
        table.rows, [("Species", "Wingspan"), ("Eagle", "2.3 m"), ("Falcon", "1.1 m")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = name, span
    document.add_heading("Mammals", level=1)
    document.add_paragraph("Mammals nurse their young.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def not_a_docx_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "just a zip archive")
    return buf.getvalue()


@pytest.fixture(scope="session")
def random_bytes() -> bytes:
    import random

    return random.Random(1234).randbytes(4096)
