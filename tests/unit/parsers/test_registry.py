from __future__ import annotations

import pytest

from ragd.adapters.parsers import (
    SUPPORTED_MEDIA_TYPES,
    detect_media_type,
    get_parser,
    parse_document,
)
from ragd.errors import DocumentRejected, UnsupportedMediaType

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("notes.txt", "text/plain"),
        ("server.LOG", "text/plain"),
        ("README.md", "text/markdown"),
        ("guide.markdown", "text/markdown"),
        ("page.htm", "text/html"),
        ("https://example.com/a/page.html?x=1#top", "text/html"),
        ("data.json", "application/json"),
        ("corpus.jsonl", "application/x-ndjson"),
        ("corpus.ndjson", "application/x-ndjson"),
        ("report.pdf", PDF),
        ("C:\\docs\\memo.docx", DOCX),
    ],
)
def test_extension_decides_for_plain_heads(source: str, expected: str) -> None:
    assert detect_media_type(source, b"plain words") == expected
    assert expected in SUPPORTED_MEDIA_TYPES


def test_signatures_override_lying_extensions(two_page_pdf: bytes, sample_docx: bytes) -> None:
    assert detect_media_type("report.txt", two_page_pdf[:2048]) == PDF
    assert detect_media_type("memo.bin", sample_docx[:2048]) == DOCX
    assert detect_media_type("page.txt", b"\xef\xbb\xbf  <!DOCTYPE html><html>") == "text/html"
    assert detect_media_type("x", b"<HTML><body>hi</body></HTML>") == "text/html"


def test_unknown_extension_with_text_is_plain_text() -> None:
    assert detect_media_type("script.rst", "Überschrift\n=====".encode()) == "text/plain"
    assert detect_media_type("Makefile", b"all:\n\techo hi\n") == "text/plain"


def test_unknown_extension_with_binary_is_unsupported(random_bytes: bytes) -> None:
    with pytest.raises(UnsupportedMediaType, match=r"unsupported file type '\.xyz' \(supported: "):
        detect_media_type("blob.xyz", random_bytes)


def test_zip_that_is_not_docx_is_unsupported_without_docx_extension(
    not_a_docx_zip: bytes,
) -> None:
    with pytest.raises(UnsupportedMediaType, match=r"'\.zip'"):
        detect_media_type("archive.zip", not_a_docx_zip)


def test_get_parser_ignores_parameters_and_rejects_unknown() -> None:
    assert "text/html" in get_parser("Text/HTML; charset=utf-8").media_types
    with pytest.raises(UnsupportedMediaType, match="image/gif"):
        get_parser("image/gif")


@pytest.mark.parametrize("media_type", sorted(SUPPORTED_MEDIA_TYPES))
def test_zero_bytes_are_rejected_for_every_type(media_type: str) -> None:
    with pytest.raises(DocumentRejected, match=r"empty \(0 bytes\)"):
        parse_document(b"", media_type, source="empty")


@pytest.mark.parametrize("media_type", [PDF, DOCX, "text/plain", "text/markdown"])
def test_random_binary_is_rejected_never_crashes(random_bytes: bytes, media_type: str) -> None:
    with pytest.raises(DocumentRejected) as info:
        parse_document(random_bytes, media_type, source="junk")
    assert type(info.value) is DocumentRejected
    assert len(str(info.value)) > 10


def test_sections_are_stripped_and_blank_ones_dropped() -> None:
    doc = parse_document(b"# A\n\n\n\n# B\n\n  body  \n", "text/markdown", source="m.md")

    assert [(s.heading_path, s.text) for s in doc.sections] == [(("B",), "body")]
