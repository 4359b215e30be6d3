from __future__ import annotations

import pytest

from ragd.adapters.parsers import parse_document
from ragd.errors import DocumentRejected

PDF = "application/pdf"


def test_pages_are_numbered_and_keep_their_text(two_page_pdf: bytes) -> None:
    doc = parse_document(two_page_pdf, PDF, source="metals.pdf")

    assert {s.page for s in doc.sections} == {1, 2}
    page1 = "\n".join(s.text for s in doc.sections if s.page == 1)
    page2 = "\n".join(s.text for s in doc.sections if s.page == 2)
    assert "Introduction to metallurgy" in page1
    assert "Closing remark" in page1
    assert "alloys and corrosion" in page2
    assert "metallurgy" not in page2
    assert doc.title == "Metals Handbook"


def test_table_rows_become_pipe_joined_text_once(two_page_pdf: bytes) -> None:
    doc = parse_document(two_page_pdf, PDF, source="metals.pdf")

    table = next(s for s in doc.sections if s.table_header is not None)
    assert (table.page, table.table_header) == (1, "Metal | Density")
    assert table.text == "Iron | 7.87\nGold | 19.32"
    assert doc.text.count("Iron") == 1  # not repeated in the running text


def test_sections_follow_reading_order(two_page_pdf: bytes) -> None:
    text = parse_document(two_page_pdf, PDF, source="metals.pdf").text

    assert text.index("Introduction") < text.index("Iron | 7.87") < text.index("Closing")


def test_pdf_without_text_layer_is_rejected(image_only_pdf: bytes) -> None:
    with pytest.raises(DocumentRejected, match=r"no extractable text and no scanned page"):
        parse_document(image_only_pdf, PDF, source="scan.pdf")


def test_password_protected_pdf_is_rejected(encrypted_pdf: bytes) -> None:
    with pytest.raises(DocumentRejected, match="encrypted"):
        parse_document(encrypted_pdf, PDF, source="secret.pdf")


@pytest.mark.parametrize("cut", [10, 300, 0.5, 0.9])
def test_truncated_pdf_is_rejected(two_page_pdf: bytes, cut: float) -> None:
    end = int(len(two_page_pdf) * cut) if isinstance(cut, float) else cut
    with pytest.raises(DocumentRejected, match="PDF"):
        parse_document(two_page_pdf[:end], PDF, source="cut.pdf")
