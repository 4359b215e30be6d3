"""Zip archives read safely: every zip-based format (DOCX today; XLSX, PPTX, EPUB, ODS later).

A zip declares in its central directory how many members it has and how large each one
inflates. ``open_archive`` checks those numbers against ``ArchiveLimits`` before a single
byte is inflated, and ``SafeArchive.read`` inflates one member itself, from the raw
deflate stream, stopping at the declared size: a header that understates a member (the
classic "lying" bomb) is caught at the first byte past the lie, not after gigabytes.
Nested archives are never opened: a parser reads the members it needs (XML, text) and a
zip inside a zip is, to it, an opaque member that it does not read.

Every refusal is a ``DocumentRejected`` with a sentence that says what is wrong and which
setting bounds it; library detail goes to the log only.
"""

from __future__ import annotations

import io
import itertools
import logging
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from ragd.errors import DocumentRejected

log = logging.getLogger(__name__)

MiB = 1024 * 1024

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... name length, extra length
_LOCAL_SIGNATURE = b"PK\x03\x04"
_CENTRAL_ENTRY_BYTES = 46  # the fixed part of one central directory entry
_NAME_ALLOWANCE = 512  # per member, for the central directory size check
_RATIO_GRACE_BYTES = MiB  # below this, a member's ratio is harmless whatever it is
_MAX_NAME_CHARS = 1024
_READ_CHUNK = 64 * 1024
_READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(frozen=True)
class ArchiveLimits:
    """How much a parser may inflate from one uploaded archive (settings: ``RAGD_ARCHIVE_*``)."""

    max_members: int = 10_000
    max_inflated_bytes: int = 200 * MiB
    max_member_bytes: int = 32 * MiB
    max_ratio: float = 100.0


@dataclass(frozen=True)
class Member:
    """One member as the central directory declares it."""

    name: str
    size: int
    compressed_size: int
    method: int
    crc: int
    header_offset: int


class SafeArchive:
    """A zip whose central directory passed ``ArchiveLimits``; members inflate bounded."""

    def __init__(self, data: bytes, members: list[Member], limits: ArchiveLimits, what: str):
        self._data = data
        self._members = {m.name: m for m in members}
        self._limits = limits
        self._what = what
        self._inflated = 0

    @property
    def members(self) -> list[Member]:
        return list(self._members.values())

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def read(self, name: str) -> bytes:
        """The member's bytes; refused past its declared size or the per-member limit."""
        member = self._members.get(name)
        if member is None:
            raise DocumentRejected(f"the {self._what} has no part named {name!r}")
        cap = min(member.size, self._limits.max_member_bytes)
        if member.size > self._limits.max_member_bytes:
            raise DocumentRejected(
                f"the part {name!r} of the {self._what} inflates to {_size(member.size)}, "
                f"more than the {_size(self._limits.max_member_bytes)} read from one part "
                "(RAGD_ARCHIVE_MAX_MEMBER_BYTES)"
            )
        if self._inflated + cap > self._limits.max_inflated_bytes:
            raise DocumentRejected(self._too_much(self._inflated + cap))
        data = _inflate(self._raw(member), member, cap, self._what)
        self._inflated += len(data)
        return data

    def repack(self, wanted: Callable[[str], bool]) -> bytes:
        """A stored (uncompressed) copy holding every member name, with the bytes of the
        ``wanted`` members and nothing for the rest, for a library that opens the zip
        itself: it then never inflates anything this module did not bound."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name in self._members:
                zf.writestr(name, self.read(name) if wanted(name) else b"")
        return out.getvalue()

    def _raw(self, member: Member) -> bytes:
        """The member's compressed bytes, located through its local header."""
        start = member.header_offset
        header = self._data[start : start + _LOCAL_HEADER.size]
        if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
            raise DocumentRejected(
                f"the {self._what} is damaged: the part {member.name!r} is not where "
                "the archive's directory says it is"
            )
        fields = _LOCAL_HEADER.unpack(header)
        begin = start + _LOCAL_HEADER.size + fields[-2] + fields[-1]
        return self._data[begin : begin + member.compressed_size]

    def _too_much(self, total: int) -> str:
        return (
            f"the {self._what} inflates to {_size(total)}, more than the "
            f"{_size(self._limits.max_inflated_bytes)} read from one archive "
            "(RAGD_ARCHIVE_MAX_INFLATED_BYTES)"
        )


def open_archive(data: bytes, limits: ArchiveLimits, *, what: str) -> SafeArchive:
    """Check ``data``'s central directory against ``limits``; nothing is inflated.

    ``what`` names the format in messages ("DOCX file"). Refuses an archive with too
    many members, that would inflate past the limits or at a suspicious ratio, whose
    members overlap, repeat a name, are encrypted or use an unusual compression, or carry
    unsafe path names.
    """
    _check_directory_size(data, limits, what)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except Exception as exc:  # BadZipFile, NotImplementedError (version), UnicodeError...
        log.info("zip directory unreadable: %s: %s", type(exc).__name__, exc)
        raise DocumentRejected(
            f"the {what} is not a readable zip archive: its directory is missing or damaged"
        ) from exc
    members = [
        Member(
            name=i.filename,
            size=i.file_size,
            compressed_size=i.compress_size,
            method=i.compress_type,
            crc=i.CRC,
            header_offset=i.header_offset,
        )
        for i in infos
    ]
    _check_members(members, [i.flag_bits for i in infos], len(data), limits, what)
    return SafeArchive(data, members, limits, what)


def _check_directory_size(data: bytes, limits: ArchiveLimits, what: str) -> None:
    """Refuse a directory too large for ``max_members`` before zipfile builds it in memory."""
    end = data.rfind(_EOCD, max(0, len(data) - 65_536 - _EOCD_SIZE))
    if end < 0 or len(data) - end < _EOCD_SIZE:
        raise DocumentRejected(f"the {what} is not a zip archive")
    _, _, _, _, count, directory_bytes, _, _ = struct.unpack(
        "<4s4H2LH", data[end : end + _EOCD_SIZE]
    )
    if count == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        count, directory_bytes = _zip64_directory(data, end, count, directory_bytes)
    if count > limits.max_members or directory_bytes > limits.max_members * (
        _CENTRAL_ENTRY_BYTES + _NAME_ALLOWANCE
    ):
        raise DocumentRejected(_too_many(count, limits, what))


def _zip64_directory(data: bytes, end: int, count: int, size: int) -> tuple[int, int]:
    """Entry count and directory size from the ZIP64 end record, when it can be found."""
    locator = data[max(0, end - 20) : end]
    if len(locator) == 20 and locator[:4] == _ZIP64_LOCATOR:
        offset = struct.unpack("<4sLQL", locator)[2]
        record = data[offset : offset + 56]
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            fields = struct.unpack("<4sQ2H2L4Q", record)
            return fields[7], fields[8]
    return count, size


def _check_members(
    members: list[Member], flags: list[int], archive_bytes: int, limits: ArchiveLimits, what: str
) -> None:
    if len(members) > limits.max_members:
        raise DocumentRejected(_too_many(len(members), limits, what))
    _check_overlaps(members, what)
    seen: set[str] = set()
    total = 0
    for member, flag in zip(members, flags, strict=True):
        _check_name(member.name, what)
        if member.name in seen:
            raise DocumentRejected(f"the {what} names the part {member.name!r} twice")
        seen.add(member.name)
        if flag & 0x1:
            raise DocumentRejected(f"the {what} is encrypted and cannot be read")
        if member.method not in _READABLE_METHODS:
            raise DocumentRejected(
                f"the part {member.name!r} of the {what} uses a compression method "
                "that ragd does not read (only stored and deflated parts)"
            )
        if _suspicious_ratio(member.size, member.compressed_size, limits):
            raise DocumentRejected(
                f"the part {member.name!r} of the {what} would inflate "
                f"{member.size / max(member.compressed_size, 1):,.0f} times "
                f"(from {_size(member.compressed_size)} to {_size(member.size)}), more "
                f"than the {limits.max_ratio:,.0f}:1 allowed (RAGD_ARCHIVE_MAX_RATIO): "
                "this looks like a decompression bomb"
            )
        total += member.size
    if total > limits.max_inflated_bytes:
        raise DocumentRejected(
            f"the {what} would inflate to {_size(total)}, more than the "
            f"{_size(limits.max_inflated_bytes)} read from one archive "
            "(RAGD_ARCHIVE_MAX_INFLATED_BYTES)"
        )
    if _suspicious_ratio(total, archive_bytes, limits):
        raise DocumentRejected(
            f"the {what} would inflate {total / max(archive_bytes, 1):,.0f} times, more "
            f"than the {limits.max_ratio:,.0f}:1 allowed (RAGD_ARCHIVE_MAX_RATIO): "
            "this looks like a decompression bomb"
        )


def _check_name(name: str, what: str) -> None:
    parts = name.replace("\\", "/").split("/")
    if (
        not name
        or len(name) > _MAX_NAME_CHARS
        or "\x00" in name
        or name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or ".." in parts
    ):
        shown = name[:80] + ("…" if len(name) > 80 else "")
        raise DocumentRejected(f"the {what} contains a part with an unsafe name: {shown!r}")


def _check_overlaps(members: list[Member], what: str) -> None:
    """Members sharing compressed bytes (the "overlapping files" bomb) are refused."""
    ordered = sorted(members, key=lambda m: m.header_offset)
    for first, second in itertools.pairwise(ordered):
        least_end = (
            first.header_offset
            + _LOCAL_HEADER.size
            + len(first.name.encode())
            + first.compressed_size
        )
        if least_end > second.header_offset:
            raise DocumentRejected(
                f"the {what} is malformed: its parts {first.name!r} and {second.name!r} "
                "overlap, a trick used by decompression bombs"
            )


def _suspicious_ratio(size: int, compressed: int, limits: ArchiveLimits) -> bool:
    return size > _RATIO_GRACE_BYTES and size > limits.max_ratio * max(compressed, 1)


def _inflate(raw: bytes, member: Member, cap: int, what: str) -> bytes:
    """Inflate at most ``cap`` bytes; a stream that goes on past its declared size is
    refused at the first byte past it, whatever the headers said."""
    if member.method == zipfile.ZIP_STORED:
        data = raw[: member.size]
        complete = len(data) == member.size
    else:
        inflater = zlib.decompressobj(-15)
        out = bytearray()
        try:
            for start in range(0, len(raw), _READ_CHUNK):
                out += inflater.decompress(raw[start : start + _READ_CHUNK], cap + 1 - len(out))
                if len(out) > cap or inflater.unconsumed_tail:
                    raise DocumentRejected(_lied(member, what))
                if inflater.eof:
                    break
        except zlib.error as exc:
            log.info("inflating %s failed: %s", member.name, exc)
            raise DocumentRejected(
                f"the part {member.name!r} of the {what} is damaged and cannot be inflated"
            ) from exc
        data = bytes(out)
        complete = inflater.eof and len(data) == member.size
    if not complete:
        raise DocumentRejected(
            f"the part {member.name!r} of the {what} is cut short: the file is truncated or damaged"
        )
    if zlib.crc32(data) != member.crc:
        raise DocumentRejected(
            f"the part {member.name!r} of the {what} is damaged (its checksum does not match)"
        )
    return data


def _lied(member: Member, what: str) -> str:
    return (
        f"the part {member.name!r} of the {what} inflates to more than the "
        f"{_size(member.size)} its header declares: the archive is damaged or a "
        "decompression bomb"
    )


def _too_many(count: int, limits: ArchiveLimits, what: str) -> str:
    shown = f"{count:,}" if count <= limits.max_members * 100 else "far too many"
    return (
        f"the {what} has {shown} parts, more than the {limits.max_members:,} allowed "
        "(RAGD_ARCHIVE_MAX_MEMBERS)"
    )


def _size(n: int) -> str:
    if n >= 1024 * MiB:
        return f"{n / (1024 * MiB):.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"
