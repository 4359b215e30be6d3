"""PDF stream filters inside limits: pdfminer's decoders, bounded.

pdfminer decodes a stream in one call per filter (``zlib.decompress(data)``, and
``lzwdecode``/``rldecode`` that build the whole output), so a FlateDecode stream of a
megabyte can inflate to a gigabyte before anything looks at its size, and its fallback
for a damaged stream concatenates bytes one at a time (quadratic). pdfminer has no
setting for this, so ``install`` replaces those names in ``pdfminer.pdftypes`` with
versions that stop at ``ParseLimits.pdf_max_stream_bytes`` and raise ``DocumentRejected``.
The replacements give the same bytes as the originals for every stream under the limit.
"""

from __future__ import annotations

import io
import logging
import zlib
from typing import Any

from ragd.adapters.parsers.limits import current_limits
from ragd.errors import DocumentRejected

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_installed = False


class StreamTooLarge(DocumentRejected):
    """A PDF stream decodes to more than ``pdf_max_stream_bytes``."""


def install() -> None:
    """Put the bounded decoders in pdfminer (idempotent; done on the first PDF)."""
    global _installed
    if _installed:
        return
    import pdfminer.pdftypes as pdftypes

    pdftypes.zlib = _BoundedZlib()  # type: ignore[assignment]
    pdftypes.decompress_corrupted = decompress_corrupted
    pdftypes.lzwdecode = lzwdecode
    pdftypes.rldecode = rldecode
    _installed = True


def _cap() -> int:
    return current_limits().pdf_max_stream_bytes


def _too_large(cap: int) -> StreamTooLarge:
    mib = cap / (1024 * 1024)
    return StreamTooLarge(
        f"the PDF holds a compressed stream that inflates to more than {mib:,.0f} MiB "
        "(RAGD_PDF_MAX_STREAM_BYTES): it is damaged or a decompression bomb"
    )


class _BoundedZlib:
    """The ``zlib`` module as pdfminer sees it: ``decompress`` stops at the cap."""

    error = zlib.error
    MAX_WBITS = zlib.MAX_WBITS

    def decompress(self, data: bytes, wbits: int = zlib.MAX_WBITS, bufsize: int = 0) -> bytes:  # noqa: ARG002
        cap = _cap()
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, cap + 1)
        if len(out) > cap or inflater.unconsumed_tail:
            raise _too_large(cap)
        if not inflater.eof:  # what zlib.decompress says for a stream that stops short
            raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)


def decompress_corrupted(data: bytes) -> bytes:
    """pdfminer's fallback for a damaged Flate stream (keep what inflates before the
    damage, tolerate it in the last 3 bytes), linear and bounded."""
    cap = _cap()
    inflater = zlib.decompressobj()
    out = bytearray()
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        saved = inflater.copy()
        try:
            out += inflater.decompress(chunk)
        except zlib.error:
            inflater = saved
            for offset in range(len(chunk)):
                try:
                    out += inflater.decompress(chunk[offset : offset + 1])
                except zlib.error:
                    if start + offset < len(data) - 3:
                        raise
                    log.warning("Data-loss while decompressing corrupted data")
                    return bytes(out)
                if len(out) > cap:
                    raise _too_large(cap) from None
        if len(out) > cap:
            raise _too_large(cap)
    return bytes(out)


def lzwdecode(data: bytes) -> bytes:
    from pdfminer.lzw import LZWDecoder

    cap = _cap()
    out = bytearray()
    for piece in LZWDecoder(io.BytesIO(data)).run():
        out += piece
        if len(out) > cap:
            raise _too_large(cap)
    return bytes(out)


def rldecode(data: bytes) -> bytes:
    """RunLengthDecode (PDF 1.4, 3.3.4): a length byte, then 1-128 literal bytes
    (0-127) or one byte repeated 2-128 times (129-255); 128 ends the data."""
    cap = _cap()
    out = bytearray()
    at = 0
    while at < len(data):
        length = data[at]
        if length == 128:
            break
        if length < 128:
            literal = data[at + 1 : at + 2 + length]
            if len(literal) < length + 1:
                raise DocumentRejected("the PDF holds a run-length stream that is cut short")
            out += literal
            at += length + 2
        else:
            if at + 1 >= len(data):
                raise DocumentRejected("the PDF holds a run-length stream that is cut short")
            out += data[at + 1 : at + 2] * (257 - length)
            at += 2
        if len(out) > cap:
            raise _too_large(cap)
    return bytes(out)
