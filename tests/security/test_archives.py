"""Decompression bombs and other hostile zips, refused before they are inflated.

Each file is generated here (never committed) and parsed in a child process under
``RLIMIT_AS`` (``parse_in_child``), whose peak RSS is measured: a bomb must be refused
with a sentence, quickly, without the child's memory growing.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from ragd.adapters.parsers.archives import ArchiveLimits, open_archive
from ragd.adapters.parsers.docx import DOCX
from ragd.errors import DocumentRejected
from tests.security.parse_in_child import Outcome, is_sentence, parse_once
from tests.security.zips import (
    MiB,
    body_xml,
    deflated,
    docx_parts,
    docx_with,
    lying,
    paragraph_bomb,
    repeated,
    text_node_bomb,
    write_zip,
)

GiB = 1024 * MiB
MEMORY_MB = 1536  # the child's address-space allowance above its imports
REFUSED_PEAK_MB = 64  # a refusal inflates nothing: the child should barely move


def _refused(outcome: Outcome, *words: str) -> None:
    assert outcome.kind == "rejected", outcome
    assert is_sentence(outcome.detail), outcome.detail
    for word in words:
        assert word in outcome.detail, outcome.detail


@pytest.fixture(scope="module")
def gigabyte_of_paragraphs() -> bytes:
    return docx_with(paragraph_bomb(GiB))


@pytest.mark.slow
def test_paragraph_bomb_is_refused_before_inflating(gigabyte_of_paragraphs: bytes) -> None:
    assert len(gigabyte_of_paragraphs) < 5 * MiB  # 1 GiB of XML in a file like the issue's

    outcome = parse_once(gigabyte_of_paragraphs, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "inflate", "decompression bomb")
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome
    assert outcome.seconds < 5, outcome


@pytest.mark.slow
def test_lying_header_is_caught_at_the_lie() -> None:
    # The headers declare 5 MiB (a plausible 5:1 member, within every limit) and the
    # checksum of those 5 MiB; the stream goes on to inflate a gigabyte.
    liar = lying(paragraph_bomb(GiB), 5 * MiB)
    data = docx_with(liar)

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "word/document.xml", "declares")
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome


@pytest.mark.slow
def test_one_huge_text_node_is_refused_before_inflating() -> None:
    data = docx_with(text_node_bomb(GiB))

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "decompression bomb")
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome


@pytest.mark.slow
def test_text_node_past_the_xml_limit_is_refused_within_limits() -> None:
    # 12 MB of hex in one text run: compresses only 2:1, so no archive limit applies;
    # lxml without huge_tree refuses a text node over 10 MB, in a few hundred MB.
    head, tail = body_xml()
    xml = head + b"<w:p><w:r><w:t>" + os.urandom(6 * MiB).hex().encode() + b"</w:t></w:r></w:p>"
    data = docx_with(deflated("word/document.xml", xml + tail))

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "XML")
    assert outcome.peak_rss_mb < 300, outcome


@pytest.mark.slow
def test_thousands_of_members_are_refused_from_the_directory() -> None:
    extra = tuple(deflated(f"customXml/item{i}.xml", b"<a/>") for i in range(12_000))
    data = docx_with(extra=extra)

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "12,017 parts, more than the 10,000 allowed")
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome


@pytest.mark.slow
def test_overlapping_members_are_refused() -> None:
    # 200 directory entries share one 5 MiB stream: 1 GiB for a tool that extracts all.
    block = b"<w:p><w:r><w:t>overlap</w:t></w:r></w:p>" * 1024
    shared = repeated("customXml/item.xml", b"<a>", block, 5 * MiB // len(block), b"</a>")
    members = [deflated(n, d) for n, d in docx_parts().items()]
    data = write_zip([*members, shared], aliases=200)

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "DOCX", "overlap")


@pytest.mark.slow
def test_nested_bomb_is_never_opened(gigabyte_of_paragraphs: bytes) -> None:
    # A real document that embeds a 1 GiB bomb as a part: the parent's text is read,
    # the embedded archive is not inflated, let alone opened.
    embedded = deflated("word/embeddings/package.docx", gigabyte_of_paragraphs)
    outcome = parse_once(docx_with(extra=(embedded,)), DOCX, memory_mb=MEMORY_MB)

    assert outcome.kind == "parsed", outcome
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome


@pytest.mark.slow
def test_zip_of_zips_is_refused_as_not_a_word_document(gigabyte_of_paragraphs: bytes) -> None:
    data = write_zip([deflated(f"{i}.zip", gigabyte_of_paragraphs) for i in range(8)])

    outcome = parse_once(data, DOCX, memory_mb=MEMORY_MB)

    _refused(outcome, "not a Word document")
    assert outcome.peak_rss_mb < REFUSED_PEAK_MB, outcome


# The directory checks themselves, in process (no inflating involved).


def _zip(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs.xml", "C:/x.xml", "a\\..\\b.xml"])
def test_unsafe_member_names_are_refused(name: str) -> None:
    with pytest.raises(DocumentRejected, match="unsafe name") as caught:
        open_archive(_zip("ok.xml", name), ArchiveLimits(), what="DOCX file")
    assert is_sentence(str(caught.value))


def test_a_name_given_twice_is_refused() -> None:
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate
        data = _zip("a.xml", "a.xml")
    with pytest.raises(DocumentRejected, match="twice"):
        open_archive(data, ArchiveLimits(), what="DOCX file")


def test_member_count_is_checked_from_the_end_record_first() -> None:
    data = _zip(*(f"{i}.xml" for i in range(30)))
    with pytest.raises(DocumentRejected, match="30 parts, more than the 20 allowed"):
        open_archive(data, ArchiveLimits(max_members=20), what="DOCX file")


def test_limits_bound_each_member_and_the_total() -> None:
    two = write_zip([deflated("a.xml", b"a" * 4096), deflated("b.xml", b"b" * 4096)])
    with pytest.raises(DocumentRejected, match="RAGD_ARCHIVE_MAX_INFLATED_BYTES"):
        open_archive(two, ArchiveLimits(max_inflated_bytes=6000), what="DOCX file")
    archive = open_archive(two, ArchiveLimits(max_member_bytes=4096), what="DOCX file")
    assert archive.read("a.xml") == b"a" * 4096
    small = open_archive(two, ArchiveLimits(max_member_bytes=1000), what="DOCX file")
    with pytest.raises(DocumentRejected, match="RAGD_ARCHIVE_MAX_MEMBER_BYTES"):
        small.read("a.xml")


def test_a_truncated_member_is_refused_as_cut_short() -> None:
    member = deflated("a.xml", os.urandom(50_000))
    cut = type(member)(member.name, member.compressed[:-1000], member.crc, member.size)
    archive = open_archive(write_zip([cut]), ArchiveLimits(), what="DOCX file")
    with pytest.raises(DocumentRejected, match=r"cut short|damaged"):
        archive.read("a.xml")


def test_an_ordinary_docx_passes_untouched(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Owls", level=1)
    document.add_paragraph("Owls hunt at night.")
    document.add_picture(io.BytesIO(_png()), width=None)
    path = tmp_path / "owls.docx"
    document.save(str(path))
    archive = open_archive(path.read_bytes(), ArchiveLimits(), what="DOCX file")
    assert "word/document.xml" in archive
    assert b"Owls hunt at night." in archive.read("word/document.xml")


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">2I5B", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


# Through the API: the upload answers at once, the document ends failed with a sentence.


@pytest.mark.slow
def test_api_upload_of_a_bomb_fails_the_document_with_a_sentence(tmp_path: Path) -> None:
    from tests.api.conftest import make_client, wait_indexed

    bomb = docx_with(text_node_bomb(300 * MiB))
    with make_client(tmp_path / "data") as client:
        started = time.monotonic()
        response = client.post("/api/v1/documents", files={"file": ("bomb.docx", bomb, DOCX)})
        answered = time.monotonic() - started
        assert response.status_code == 202, response.text
        assert answered < 5
        doc = wait_indexed(client, response.json()["id"], timeout=30)
        health = client.get("/health")

    assert doc["status"] == "failed", doc
    assert is_sentence(doc["error"]) and "decompression bomb" in doc["error"], doc["error"]
    assert health.status_code == 200
