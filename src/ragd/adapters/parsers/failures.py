"""Turn a library's exception into a phrase a person can act on.

Parsers call libraries (pdfminer, lxml, python-docx, zlib) that fail with their own
jargon ("PSEOF: Unexpected EOF"). A rejection message is read by the person who uploaded
the file, so it says what is wrong with the file in words; the library's type and
message go to the log, where an operator can find them.
"""

from __future__ import annotations

# By exception class name ("module.name" where the bare name is ambiguous), so that no
# library needs importing to recognise its errors; the first found along the class's
# ancestry wins.
_PHRASES: dict[str, str] = {
    "PSEOF": "it ends before its end-of-file marker: the file is truncated or damaged",
    "PDFNoValidXRef": "its table of objects is missing or damaged",
    "PDFNoValidXRefWarning": "its table of objects is missing or damaged",
    "PDFNoPageLabels": "its page labels are damaged",
    "PDFObjectNotFound": "it refers to objects it does not contain: it is damaged",
    "PDFNotImplementedError": "it uses a feature ragd cannot read",
    "PDFTypeError": "its structure is malformed",
    "PDFValueError": "its structure is malformed",
    "PDFSyntaxError": "its structure is malformed",
    "PSSyntaxError": "its structure is malformed",
    "PSTypeError": "its structure is malformed",
    "PDFFontError": "one of its fonts is damaged",
    "PDFException": "its structure is malformed",
    "PSException": "its structure is malformed",
    "XMLSyntaxError": "its XML is malformed (or holds a text run over 10 MB)",
    "ParseError": "its XML is malformed",
    "BadZipFile": "its zip structure is damaged",
    "zlib.error": "a compressed stream in it is damaged",
    "MemoryError": "reading it needs more memory than this server allows",
    "RecursionError": "it is nested too deeply to read",
    "UnicodeError": "it holds text in an encoding that cannot be read",
    "EOFError": "it ends too early: the file is truncated",
    "KeyError": "a part it refers to is missing",
    "IndexError": "it is damaged or malformed",
    "ZeroDivisionError": "it holds impossible geometry or numbers",
    "OverflowError": "it holds numbers too large to use",
}
_FALLBACK = "it is damaged or uses a feature ragd cannot read"


def phrase(exc: BaseException) -> str:
    """What is wrong with the file, as a clause starting with "it" (never a type name)."""
    for cls in type(exc).__mro__:
        found = _PHRASES.get(f"{cls.__module__}.{cls.__name__}") or _PHRASES.get(cls.__name__)
        if found is not None:
            return found
    return _FALLBACK


def describe(exc: BaseException, *, limit: int = 200) -> str:
    """``Type: message`` cut to ``limit`` characters: the detail for a log line."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:limit]
