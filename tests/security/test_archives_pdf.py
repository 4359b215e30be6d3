"""PDF's own bombs: a FlateDecode stream inflating to a gigabyte, and pages by the
thousand. Parsed in a child under ``RLIMIT_AS`` with its peak RSS measured."""

from __future__ import annotations

import zlib

import pytest

from ragd.adapters.parsers.limits import ParseLimits, applied
from ragd.adapters.parsers.pdf_streams import decompress_corrupted, install, rldecode
from ragd.errors import DocumentRejected
from tests.security.parse_in_child import is_sentence, parse_once

PDF = "application/pdf"
MiB = 1024 * 1024


def _pdf(content: bytes, *, filters: bytes = b"/FlateDecode", pages: int = 1) -> bytes:
    """A PDF written by hand: ``pages`` pages sharing one content stream."""
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter %s >>\nstream\n" % (len(content), filters)
        + content
        + b"\nendstream",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    )
    objects += [page] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _flate_bomb(size: int) -> bytes:
    """A zlib stream of text then ``size`` spaces, from one block repeated (fast)."""
    c = zlib.compressobj(9)
    head = b"BT /F1 12 Tf 72 720 Td (Hello bomb) Tj ET\n"
    block = b" " * MiB
    out = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    adler = zlib.adler32(head)
    for _ in range(size // MiB):
        adler = zlib.adler32(block, adler)
    body = out + piece * (size // MiB)
    # finish with an empty final block and the checksum of everything
    return body + b"\x03\x00" + adler.to_bytes(4, "big")


@pytest.mark.slow
def test_flate_bomb_stream_is_refused_within_limits() -> None:
    data = _pdf(_flate_bomb(1024 * MiB))
    assert len(data) < 5 * MiB

    outcome = parse_once(data, PDF, memory_mb=1536, timeout_s=30)

    assert outcome.kind == "rejected", outcome
    assert is_sentence(outcome.detail) and "RAGD_PDF_MAX_STREAM_BYTES" in outcome.detail
    assert outcome.peak_rss_mb < 200, outcome


@pytest.mark.slow
def test_too_many_pages_are_refused_before_reading_them() -> None:
    data = _pdf(zlib.compress(b"BT /F1 12 Tf 72 720 Td (page) Tj ET"), pages=5_001)

    outcome = parse_once(data, PDF, memory_mb=1536, timeout_s=30)

    assert outcome.kind == "rejected", outcome
    assert is_sentence(outcome.detail) and "5,000 pages" in outcome.detail
    assert outcome.seconds < 10, outcome


def test_bounded_decoders_give_pdfminers_bytes_under_the_limit() -> None:
    import pdfminer.pdftypes as pdftypes

    install()
    text = b"stream text " * 5000
    assert pdftypes.zlib.decompress(zlib.compress(text)) == text
    damaged = zlib.compress(text)[:-2]  # the checksum cut: pdfminer keeps the text
    assert decompress_corrupted(damaged) == text
    assert rldecode(b"\x02abc\xfdz\x80") == b"abczzzz"
    with applied(ParseLimits(pdf_max_stream_bytes=1000)), pytest.raises(DocumentRejected):
        pdftypes.zlib.decompress(zlib.compress(text))
    with applied(ParseLimits(pdf_max_stream_bytes=1000)), pytest.raises(DocumentRejected):
        decompress_corrupted(damaged)
    with applied(ParseLimits(pdf_max_stream_bytes=100)), pytest.raises(DocumentRejected):
        rldecode(b"\x81z" * 10)
