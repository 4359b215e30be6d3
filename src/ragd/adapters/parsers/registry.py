"""Which parser reads a file: media type detection, lookup, and the one entry point.

The extension is what a user meant, but extensions lie (a PDF saved as ``.txt``, a
``.doc`` renamed ``.docx``), so the first bytes are checked for the formats that have an
unambiguous signature. ``parse_document`` is what services call: it adds the checks every
format shares so individual parsers need not repeat them.
"""

from __future__ import annotations

from dataclasses import replace

from ragd.adapters.parsers.content_metadata import LANGUAGE_SAMPLE_CHARS, clean, detect_language
from ragd.adapters.parsers.csv_tables import CSV, TSV, CsvParser
from ragd.adapters.parsers.decoding import head_looks_like_text
from ragd.adapters.parsers.docx import DOCX, DocxParser
from ragd.adapters.parsers.epub import EPUB, EpubParser
from ragd.adapters.parsers.html import HTML, HtmlParser
from ragd.adapters.parsers.json_records import JSON, NDJSON, JsonParser
from ragd.adapters.parsers.limits import current_limits
from ragd.adapters.parsers.mail import EML, MSG, EmlParser, MsgParser
from ragd.adapters.parsers.markdown import MARKDOWN, MarkdownParser
from ragd.adapters.parsers.ocr.images import JPEG, PNG, TIFF, ImageParser
from ragd.adapters.parsers.ods import ODS, OdsParser
from ragd.adapters.parsers.pdf import PDF, PdfParser
from ragd.adapters.parsers.slides import PPTX, PptxParser
from ragd.adapters.parsers.text import PLAIN_TEXT, TextParser
from ragd.adapters.parsers.xlsx import XLSM, XLSX, XlsxParser
from ragd.domain.models import ParsedDocument, Section
from ragd.errors import DocumentRejected, UnsupportedMediaType
from ragd.ports.parser import Parser

_PARSERS: tuple[Parser, ...] = (
    TextParser(),
    MarkdownParser(),
    HtmlParser(),
    PdfParser(),
    DocxParser(),
    JsonParser(),
    XlsxParser(),
    OdsParser(),
    CsvParser(),
    PptxParser(),
    EpubParser(),
    EmlParser(),
    MsgParser(),
    ImageParser(),
)
_BY_MEDIA_TYPE: dict[str, Parser] = {mt: p for p in _PARSERS for mt in p.media_types}

SUPPORTED_MEDIA_TYPES: frozenset[str] = frozenset(_BY_MEDIA_TYPE)

EXTENSIONS: dict[str, str] = {
    ".txt": PLAIN_TEXT,
    ".text": PLAIN_TEXT,
    ".log": PLAIN_TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".pdf": PDF,
    ".docx": DOCX,
    ".json": JSON,
    ".jsonl": NDJSON,
    ".ndjson": NDJSON,
    ".xlsx": XLSX,
    ".xlsm": XLSM,
    ".ods": ODS,
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".pptx": PPTX,
    ".epub": EPUB,
    ".eml": EML,
    ".msg": MSG,
    ".png": PNG,
    ".jpg": JPEG,
    ".jpeg": JPEG,
    ".tif": TIFF,
    ".tiff": TIFF,
}
# A zip's first member tells the OOXML and OpenDocument formats apart when the name does
# not (a zip's local headers name their members; ``mimetype`` comes first in ODF files).
_ZIP_HINTS: tuple[tuple[bytes, str], ...] = (
    (b"word/", DOCX),
    (b"xl/", XLSX),
    (b"ppt/", PPTX),
    (b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet", ODS),
    (b"mimetypeapplication/epub+zip", EPUB),
)
_ZIP_FORMATS = frozenset({DOCX, XLSX, XLSM, PPTX, ODS, EPUB})
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_ZIP_MAGIC = b"PK\x03\x04"
_HTML_STARTS = (b"<!doctype html", b"<html")
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)


def detect_media_type(source: str, head: bytes) -> str:
    """Media type of a file from its name and first bytes (a few KiB are plenty).

    Signatures win over the extension; an unknown extension is accepted as plain text when
    the bytes look like text. Raises ``UnsupportedMediaType`` otherwise.
    """
    ext = _extension(source)
    sniffed = _sniff(head, ext)
    if sniffed is not None:
        return sniffed
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    if head_looks_like_text(head):
        return PLAIN_TEXT
    shown = f"'{ext}'" if ext else "(no extension)"
    raise UnsupportedMediaType(
        f"unsupported file type {shown} (supported: {', '.join(sorted(EXTENSIONS))})"
    )


def get_parser(media_type: str) -> Parser:
    """The parser for ``media_type`` (parameters such as ``; charset=`` are ignored)."""
    parser = _BY_MEDIA_TYPE.get(_base(media_type))
    if parser is None:
        raise UnsupportedMediaType(
            f"unsupported media type '{media_type}' "
            f"(supported: {', '.join(sorted(SUPPORTED_MEDIA_TYPES))})"
        )
    return parser


def parse_document(data: bytes, media_type: str, *, source: str) -> ParsedDocument:
    """Parse ``data`` and keep only sections with text (and image sections, which a vision
    model may still caption); ``DocumentRejected`` on failure."""
    parser = get_parser(media_type)
    if not data:
        raise DocumentRejected("document is empty (0 bytes)")
    parsed = parser.parse(data, source=source)
    sections = [
        replace(s, text=s.text.strip())
        for s in parsed.sections
        if s.text.strip() or (parsed.images and s.metadata.get("kind") == "image")
    ]
    if not any(s.text for s in sections) and not parsed.images:
        raise DocumentRejected("no text could be extracted")
    title = parsed.title.strip() if parsed.title else None
    metadata = clean(parsed.metadata)
    if "language" not in metadata and current_limits().detect_language:
        language = detect_language(_sample(sections))
        if language:
            metadata["language"] = language
    return ParsedDocument(
        sections=sections,
        title=title or None,
        metadata=metadata,
        attachments=parsed.attachments,
        images=parsed.images,
    )


def _sample(sections: list[Section]) -> str:
    """The first few thousand characters of text, for language detection."""
    out: list[str] = []
    size = 0
    for section in sections:
        out.append(section.text[: LANGUAGE_SAMPLE_CHARS - size])
        size += len(out[-1])
        if size >= LANGUAGE_SAMPLE_CHARS:
            break
    return "\n".join(out)


def _sniff(head: bytes, ext: str) -> str | None:
    """A media type when the bytes carry an unmistakable signature."""
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header, so do we
        return PDF
    for magic, image_type in _IMAGE_MAGIC:
        if head.startswith(magic):
            return image_type
    if head.startswith(_ZIP_MAGIC):
        # OOXML is a zip; a docx names its "word/" parts early on. Other zips go through
        # the extension, so a broken .docx still reaches the DOCX parser's message.
        if EXTENSIONS.get(ext) in _ZIP_FORMATS:
            return EXTENSIONS[ext]
        for hint, media_type in _ZIP_HINTS:
            if hint in head:
                return media_type
        return None
    if head.startswith(_OLE_MAGIC) and ext == ".msg":
        return MSG
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(_HTML_STARTS) and ext not in (".md", ".markdown"):
        return HTML
    return None


def _extension(source: str) -> str:
    """Lower-case suffix of the last path segment of a path or URL ('' when none)."""
    name = source.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    name = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    return f".{suffix.lower()}" if dot and stem and suffix else ""


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()
