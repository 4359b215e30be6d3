"""Zip files written byte by byte, so a test can make one lie or inflate to a gigabyte.

``zipfile`` cannot write a member whose header disagrees with its data, and compressing a
gigabyte for every test would take seconds; here a member's deflate stream is built from
one block repeated after full flushes (identical bytes each time), so a 1 GiB member
costs about a megabyte and a CRC pass.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import docx

MiB = 1024 * 1024
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@dataclass(frozen=True)
class RawMember:
    name: str
    compressed: bytes
    crc: int
    size: int  # what the headers declare
    method: int = 8  # deflated


def deflated(name: str, data: bytes) -> RawMember:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return RawMember(name, c.compress(data) + c.flush(), zlib.crc32(data), len(data))


def repeated(name: str, head: bytes, block: bytes, count: int, tail: bytes) -> RawMember:
    """A member of ``head + block * count + tail``, deflated in about ``count`` * 1 KiB
    for a 1 MiB block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert first == again, "a full flush makes every block's bytes the same"
    end = c.compress(tail) + c.flush()
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + len(block) * count + len(tail)
    return RawMember(name, start + first * count + end, crc, size)


def write_zip(members: list[RawMember], *, aliases: int = 0) -> bytes:
    """A zip of ``members``; ``aliases`` more directory entries point at the last
    member's bytes (the "overlapping files" bomb: one stream, inflated many times)."""
    out = io.BytesIO()
    central = []
    offset = 0
    for m in members:
        offset = out.tell()
        name = m.name.encode()
        out.write(
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                0,
                m.method,
                0,
                0,
                m.crc,
                len(m.compressed),
                m.size,
                len(name),
                0,
            )
        )
        out.write(name)
        out.write(m.compressed)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                m.method,
                0,
                0,
                m.crc,
                len(m.compressed),
                m.size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    last = members[-1]
    for i in range(aliases):
        name = f"alias{i}.xml".encode()
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                last.method,
                0,
                0,
                last.crc,
                len(last.compressed),
                last.size,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
    start = out.tell()
    for entry in central:
        out.write(entry)
    size = out.tell() - start
    count = len(central)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    return out.getvalue()


def docx_parts(text: str = "A small document about owls.") -> dict[str, bytes]:
    """The parts of a real DOCX written by python-docx, by name."""
    import zipfile

    document = docx.Document()
    document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def docx_with(document_xml: RawMember | None = None, extra: tuple[RawMember, ...] = ()) -> bytes:
    """A DOCX whose ``word/document.xml`` (and extra members) are the given raw members."""
    members = []
    for name, data in docx_parts().items():
        if name == "word/document.xml" and document_xml is not None:
            members.append(document_xml)
        else:
            members.append(deflated(name, data))
    return write_zip([*members, *extra])


def body_xml() -> tuple[bytes, bytes]:
    """The XML before and after a document's paragraphs."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W_NS}"><w:body>'
    ).encode()
    return head, b"</w:body></w:document>"


def paragraph_bomb(total: int) -> RawMember:
    """``word/document.xml`` of repeated paragraphs inflating to about ``total`` bytes."""
    head, tail = body_xml()
    para = b"<w:p><w:r><w:t>All work and no play makes a dull bomb.</w:t></w:r></w:p>"
    block = para * (MiB // len(para))
    return repeated("word/document.xml", head, block, total // len(block) + 1, tail)


def text_node_bomb(total: int) -> RawMember:
    """``word/document.xml`` with one text node of about ``total`` bytes."""
    head, tail = body_xml()
    return repeated(
        "word/document.xml",
        head + b"<w:p><w:r><w:t>",
        b"a" * MiB,
        total // MiB + 1,
        b"</w:t></w:r></w:p>" + tail,
    )


def lying(member: RawMember, declared: int) -> RawMember:
    """The same compressed bytes under headers that declare ``declared`` bytes, with the
    checksum of that many bytes so that only the size gives the lie away."""
    inflater = zlib.decompressobj(-15)
    prefix = inflater.decompress(member.compressed, declared)
    return RawMember(member.name, member.compressed, zlib.crc32(prefix), declared)
