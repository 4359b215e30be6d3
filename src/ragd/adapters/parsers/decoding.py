"""Bytes to text for every text-based parser (plain, markdown, HTML, JSON).

One place decides what counts as "text" so that a binary file mislabelled ``.txt`` or
``.md`` is rejected with the same message everywhere instead of being indexed as
mojibake. UTF-8 is tried first because it is by far the most common encoding and a strict
UTF-8 decode almost never succeeds on anything else; only then do we pay for detection.
"""

from __future__ import annotations

import codecs
import re

from ragd.errors import DocumentRejected

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters that never occur in real text. TAB, LF, VT, FF, CR are layout and
# ESC is kept out because coloured logs are full of ANSI escape sequences.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_MAX_CONTROL_SHARE = 0.02
_SAMPLE_CHARS = 65_536
_WESTERN = frozenset({"cp1252", "latin_1", "iso8859_15"})
_WESTERN_CHAOS_SLACK = 0.1  # tuned on short fr/de/es/pt vs pl/cz/ru/el/tr/lt/he samples
_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


def decode_text(data: bytes, *, what: str = "document") -> str:
    """Decode ``data`` to text with normalised newlines, or raise ``DocumentRejected``.

    Rejects binary-looking bytes and text that is empty or whitespace only. The odd
    stray control character is removed: it means nothing to a reader and breaks XML tools.
    """
    text = _decode(data, what=what)
    if looks_binary_text(text):
        raise DocumentRejected(f"{what} looks like binary data, not text")
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DocumentRejected("document is empty")
    return text


def head_looks_like_text(head: bytes) -> bool:
    """Cheap check on the first bytes of a file, tolerant of a cut multi-byte character."""
    if not head:
        return False
    for bom, _ in _BOMS:
        if head.startswith(bom):
            return True
    if _utf16_without_bom(head):
        return True
    try:
        text: str | None = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = _detect(head)
    if text is None:
        return False
    return not looks_binary_text(text)


def looks_binary_text(text: str) -> bool:
    """True when decoded text is full of control characters, i.e. really binary data."""
    sample = text[:_SAMPLE_CHARS]
    if not sample:
        return False
    if "\x00" in sample:
        return True
    return len(_CONTROL.findall(sample)) / len(sample) > _MAX_CONTROL_SHARE


def _decode(data: bytes, *, what: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise DocumentRejected(
                    f"{what} starts with a {encoding} byte-order mark but is not valid "
                    f"{encoding} (byte {exc.start + len(bom)})"
                ) from exc
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _declared_charset(data)
    if declared is not None:
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    detected = _detect(data)
    if detected is None:
        raise DocumentRejected(f"{what} looks like binary data, not text")
    return detected


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of mostly-ASCII characters has a NUL in every other byte.

    charset-normalizer does not reliably spot BOM-less UTF-16, and a strict UTF-8 decode
    would accept it (NUL is valid UTF-8), so look for the pattern directly.
    """
    sample = data[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.6 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.6 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _declared_charset(data: bytes) -> str | None:
    """An HTML ``<meta charset>`` is a better guess than statistics when it exists."""
    match = _CHARSET_RE.search(data[:4096])
    if match is None:
        return None
    return match.group(1).decode("ascii", "ignore").lower() or None


def _detect(data: bytes) -> str | None:
    """charset-normalizer's guess, nudged toward Windows-1252 for Western text.

    On short Western text charset-normalizer often prefers a Central European or Baltic
    code page ("crème" read as "crčme") by a hair of its chaos measure. cp1252 is the
    web's default for unlabelled text and the likelier author's encoding, so it wins when
    it is nearly as clean and at least as coherent a language match.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        western = _WESTERN & {match.encoding, *match.could_be_from_charset}
        close = match.chaos <= best.chaos + _WESTERN_CHAOS_SLACK
        if western and close and match.coherence >= best.coherence:
            return str(match)
    return str(best)
