"""Images embedded in PDF, DOCX and PPTX files become image chunks read by OCR, within
bounds: icons are passed over, a huge image is skipped undecoded, a corrupt one is skipped,
and a count cap holds."""

from __future__ import annotations

import io
import time

import pytest

from ragd.adapters.parsers.docx import DocxParser
from ragd.adapters.parsers.limits import ParseLimits, applied
from ragd.adapters.parsers.ocr.embedded import ImageLimits
from ragd.adapters.parsers.pdf import PdfParser
from ragd.adapters.parsers.slides import PptxParser
from ragd.domain.models import ParsedDocument
from tests.image_docs import (
    TYPED_TEXT,
    corrupt_image_pdf,
    huge_image_pdf,
    report_docx,
    report_pdf,
    report_pptx,
)

pytestmark = pytest.mark.slow


def image_sections(parsed: ParsedDocument) -> list:  # type: ignore[type-arg]
    return [s for s in parsed.sections if s.metadata.get("kind") == "image"]


def test_a_pdf_chart_becomes_an_image_section_beside_the_typed_text_and_the_scan() -> None:
    parsed = PdfParser().parse(report_pdf(), source="report.pdf")
    typed = parsed.sections[0]
    assert typed.text.strip() == TYPED_TEXT and typed.metadata == {}
    [chart] = image_sections(parsed)
    assert "8412" in chart.text and "Zorblat" in chart.text
    assert chart.page == 1 and chart.metadata["page"] == 1 and chart.metadata["image"] == "1"
    x0, top, x1, bottom = (float(v) for v in str(chart.metadata["bbox"]).split(","))
    # reportlab drew it at x 72..522, y 300..550 from the bottom of a 792-pt page.
    assert (x0, top, x1, bottom) == pytest.approx((72, 242, 522, 492), abs=1)
    assert 0.8 < float(chart.metadata["ocr_confidence"]) <= 1  # type: ignore[arg-type]
    # The photographed page is read whole by OCR, as before, and is not an image chunk.
    scan = [s for s in parsed.sections if s.page == 2]
    assert scan and "AB-7731" in scan[0].text and "kind" not in scan[0].metadata
    [preview] = parsed.images
    assert preview.key == "1" and preview.data.startswith(b"\x89PNG")
    from PIL import Image

    assert max(Image.open(io.BytesIO(preview.data)).size) <= 768


def test_images_off_keeps_only_the_text() -> None:
    with applied(ParseLimits(images=ImageLimits(enabled=False))):
        parsed = PdfParser().parse(report_pdf(photographed=False), source="r.pdf")
    assert not image_sections(parsed) and not parsed.images


@pytest.mark.parametrize(
    ("parser", "build", "page"),
    [(DocxParser(), report_docx, None), (PptxParser(), report_pptx, 2)],
)
def test_office_pictures_become_image_sections(parser, build, page) -> None:  # type: ignore[no-untyped-def]
    parsed = parser.parse(build(), source="report")
    [chart] = image_sections(parsed)
    assert "8412" in chart.text and chart.page == page
    if page is not None:
        assert chart.heading_path == ("Sales",)
    assert len(parsed.images) == 1


def test_ten_thousand_icons_are_passed_over_by_their_size() -> None:
    data = report_pdf(photographed=False, icons=10_000)
    started = time.monotonic()
    parsed = PdfParser().parse(data, source="icons.pdf")
    assert time.monotonic() - started < 60  # generous: a shared machine; ~4 s here
    assert len(image_sections(parsed)) == 1 and "images_skipped" not in parsed.metadata


def test_the_count_cap_holds_and_is_reported() -> None:
    with applied(ParseLimits(images=ImageLimits(max_per_document=0))):
        parsed = PdfParser().parse(report_pdf(photographed=False), source="r.pdf")
    assert not image_sections(parsed) and parsed.metadata["images_skipped"] == 1


def test_a_huge_image_is_skipped_undecoded() -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parsed = PdfParser().parse(huge_image_pdf(20_000), source="huge.pdf")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert parsed.sections[0].text.strip() == TYPED_TEXT
    assert not image_sections(parsed) and parsed.metadata["images_skipped"] == 1
    assert grown_mb < 200  # 400 M pixels decoded would be 400 MB


def test_a_corrupt_image_stream_leaves_the_text_indexed() -> None:
    parsed = PdfParser().parse(corrupt_image_pdf(), source="bad.pdf")
    assert parsed.sections[0].text.strip() == TYPED_TEXT
    assert all(not s.text.strip() for s in image_sections(parsed))


def test_an_image_file_is_an_image_chunk_with_a_preview_per_frame_up_to_the_cap() -> None:
    from ragd.adapters.parsers.ocr.images import ImageParser
    from tests.ocr_samples import PARAGRAPHS, Sample, tiff_pages

    frames = [Sample(PARAGRAPHS[i], "vera-sans", 30) for i in range(3)]
    with applied(ParseLimits(images=ImageLimits(max_per_document=2))):
        parsed = ImageParser().parse(tiff_pages(frames), source="scan.tiff")
    kinds = [(s.page, s.metadata.get("kind"), s.metadata.get("image")) for s in parsed.sections]
    assert kinds == [(1, "image", "1"), (2, "image", "2"), (3, None, None)]
    assert [i.key for i in parsed.images] == ["1", "2"]
    from PIL import Image

    assert max(Image.open(io.BytesIO(parsed.images[0].data)).size) == 768


def test_a_corrupt_picture_in_a_docx_is_skipped_and_counted() -> None:
    import zipfile

    from tests.office_files import _replace_member

    data = report_docx()
    [media] = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if "/media/" in n]
    parsed = DocxParser().parse(_replace_member(data, media, b"\x89PNG broken"), source="d")
    assert parsed.sections[0].text.strip() == TYPED_TEXT
    assert not image_sections(parsed) and parsed.metadata["images_skipped"] == 1


@pytest.mark.parametrize("budget", ["page", "document"])
def test_an_image_over_its_time_is_skipped_and_the_text_kept(budget: str) -> None:
    from ragd.adapters.parsers.ocr.bounds import OcrLimits

    ocr = (
        OcrLimits(page_timeout_seconds=0.01)
        if budget == "page"
        else OcrLimits(page_timeout_seconds=30, document_timeout_seconds=20)
    )
    started = time.monotonic()
    with applied(ParseLimits(ocr=ocr)):
        parsed = PdfParser().parse(report_pdf(photographed=False), source="slow.pdf")
    assert parsed.sections[0].text.strip() == TYPED_TEXT
    assert not image_sections(parsed) and parsed.metadata["images_skipped"] == 1
    assert time.monotonic() - started < 30
