from __future__ import annotations

import io

import pytest

from ragd.adapters.parsers import parse_document
from ragd.errors import DocumentRejected

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_heading_styles_build_heading_paths(sample_docx: bytes) -> None:
    doc = parse_document(sample_docx, DOCX, source="guide.docx")

    by_path = {s.heading_path: s.text for s in doc.sections if s.table_header is None}
    assert by_path[("Field Guide",)] == "Opening words of the guide."
    assert by_path[("Field Guide", "Birds")] == "Birds are feathered vertebrates."
    assert by_path[("Field Guide", "Birds", "Raptors")].startswith("Raptors hunt with talons.")
    assert by_path[("Field Guide", "Mammals")] == "Mammals nurse their young."
    assert doc.title == "Field Guide"


def test_table_is_a_section_of_rows_under_its_header_row(sample_docx: bytes) -> None:
    doc = parse_document(sample_docx, DOCX, source="guide.docx")

    table = next(s for s in doc.sections if s.table_header is not None)
    assert table.heading_path == ("Field Guide", "Birds", "Raptors")
    assert table.table_header == "Species | Wingspan"
    assert table.text == "Eagle | 2.3 m\nFalcon | 1.1 m"


def test_core_properties_title_wins() -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Official Title"
    document.add_heading("Chapter One", level=1)
    document.add_paragraph("Body text.")
    buf = io.BytesIO()
    document.save(buf)

    doc = parse_document(buf.getvalue(), DOCX, source="t.docx")

    assert doc.title == "Official Title"
    assert doc.sections[0].heading_path == ("Chapter One",)


def test_zip_that_is_not_a_docx_is_rejected(not_a_docx_zip: bytes) -> None:
    with pytest.raises(DocumentRejected, match="not a Word document"):
        parse_document(not_a_docx_zip, DOCX, source="archive.docx")


def test_random_bytes_as_docx_are_rejected(random_bytes: bytes) -> None:
    with pytest.raises(DocumentRejected, match="not a zip archive"):
        parse_document(random_bytes, DOCX, source="junk.docx")


def test_truncated_docx_is_rejected(sample_docx: bytes) -> None:
    with pytest.raises(DocumentRejected, match="DOCX"):
        parse_document(sample_docx[: len(sample_docx) // 2], DOCX, source="cut.docx")


def test_empty_docx_is_rejected() -> None:
    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    with pytest.raises(DocumentRejected, match="no text"):
        parse_document(buf.getvalue(), DOCX, source="blank.docx")
