"""Seeds and Hypothesis strategies for fuzzing every parser, shared by the CI test
(``test_parser_fuzz.py``, a small budget) and ``bench/fuzz_parsers.py`` (a long run).

Inputs are either generated from scratch (bytes, text, JSON values, tag soup) or made by
mutating valid seed files that real libraries write here (reportlab for PDF, python-docx
for DOCX, openpyxl, python-pptx, the ``email`` package and extract-msg's OLE writer for the
office formats and mail, via ``tests.office_files``): truncation, overwritten/inserted/deleted/duplicated spans, bit flips, splices
of two seeds, and for zips, lies written into the central directory's size fields.
"""

from __future__ import annotations

import io
import json
import random
import struct
from functools import cache

from hypothesis import strategies as st

from ragd.adapters.parsers.csv_tables import CSV
from ragd.adapters.parsers.docx import DOCX
from ragd.adapters.parsers.epub import EPUB
from ragd.adapters.parsers.mail import EML, MSG
from ragd.adapters.parsers.ods import ODS
from ragd.adapters.parsers.slides import PPTX
from ragd.adapters.parsers.xlsx import XLSX
from tests import office_files

ARCHIVE = "application/zip"  # the archive checker alone (see parse_in_child)

MEDIA_TYPES: dict[str, str] = {
    "text": "text/plain",
    "markdown": "text/markdown",
    "html": "text/html",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "pdf": "application/pdf",
    "docx": DOCX,
    "zip": ARCHIVE,
    "xlsx": XLSX,
    "ods": ODS,
    "csv": CSV,
    "pptx": PPTX,
    "epub": EPUB,
    "eml": EML,
    "msg": MSG,
}
_ZIP_KINDS = ("docx", "zip", "xlsx", "ods", "pptx", "epub")


@cache
def seeds(kind: str) -> tuple[bytes, ...]:
    """Valid files of ``kind``, written by the libraries that write them for real."""
    if kind == "text":
        return ("Plain words.\n\nA second paragraph, café and 東京.\n".encode(),)
    if kind == "markdown":
        return (
            b"# Title\n\nIntro.\n\n## Part\n\n- item\n- item\n\n```\ncode\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        )
    if kind == "html":
        return (
            b"<!doctype html><html><head><title>T</title></head><body><nav>menu</nav>"
            b"<main><h1>Head</h1><p>Body text here.</p><table><tr><td>a</td></tr></table>"
            b"</main></body></html>",
        )
    if kind == "json":
        return (json.dumps({"title": "T", "items": [1, 2.5, None, {"k": "v"}]}).encode(),)
    if kind == "jsonl":
        return (b'{"_id": "1", "text": "one"}\n{"_id": "2", "title": "t", "text": "two"}\n',)
    if kind == "pdf":
        return (_pdf(),)
    if kind in ("docx", "zip"):
        return (_docx(),)
    return _office_seeds(kind)


def _office_seeds(kind: str) -> tuple[bytes, ...]:
    if kind == "xlsx":
        return (office_files.xlsx_workbook(), office_files.big_sheet(20))
    if kind == "ods":
        return (office_files.ods_workbook(),)
    if kind == "csv":
        return ('Stadt;Einwohner\n"Köln";1084000\nMünchen;1512000\n'.encode(), b"a,b\n1,2\n")
    if kind == "pptx":
        return (office_files.pptx_deck(),)
    if kind == "epub":
        return (office_files.epub_book(),)
    if kind == "eml":
        state = random.getstate()  # MIME boundaries are random: leave Hypothesis's state be
        try:
            return (office_files.eml_message(),)
        finally:
            random.setstate(state)
    if kind == "msg":
        return (office_files.msg_message(),)
    raise ValueError(kind)


def inputs(kind: str) -> st.SearchStrategy[bytes]:
    """Generated and mutated files for the parser of ``kind``."""
    return st.one_of(_generated(kind), _mutated(kind))


def _generated(kind: str) -> st.SearchStrategy[bytes]:
    raw = st.binary(max_size=4096)
    if kind in ("text", "markdown"):
        lines = st.lists(
            st.one_of(
                st.text(max_size=80),
                st.sampled_from(["# h", "## h", "```", "- x", "|a|b|", "---", "> q", ""]),
            ),
            max_size=40,
        )
        return st.one_of(raw, lines.map(lambda ls: "\n".join(ls).encode()))
    if kind == "html":
        tags = st.sampled_from(["p", "div", "h1", "table", "tr", "td", "script", "nav", "b"])
        pieces = st.lists(
            st.one_of(
                tags.map(lambda t: f"<{t}>"),
                tags.map(lambda t: f"</{t}>"),
                st.text(max_size=40),
                st.sampled_from(["<!--", "-->", "<![CDATA[", "&amp;", "&#x0;", "<?xml?>"]),
            ),
            max_size=60,
        )
        return st.one_of(raw, pieces.map(lambda ps: "".join(ps).encode()))
    if kind in ("json", "jsonl"):
        values = st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=20,
        )
        if kind == "json":
            return st.one_of(raw, values.map(lambda v: json.dumps(v).encode()))
        return st.one_of(
            raw,
            st.lists(values, max_size=8).map(lambda vs: "\n".join(map(json.dumps, vs)).encode()),
        )
    if kind == "csv":
        cells = st.one_of(st.text(max_size=12), st.sampled_from(['"', '""', "\t", ";", "|", "\r"]))
        rows = st.lists(st.lists(cells, max_size=6).map(",".join), max_size=30)
        return st.one_of(raw, rows.map(lambda rs: "\n".join(rs).encode()))
    if kind == "eml":
        headers = st.sampled_from(
            ["From: a@b", "To: ", "Subject: =?utf-8?q?x?=", "Content-Type: multipart/mixed; "
             'boundary="b"', "--b", "--b--", "Content-Disposition: attachment; filename=x.csv",
             "Content-Transfer-Encoding: base64", ""]
        )  # fmt: skip
        lines = st.lists(st.one_of(headers, st.text(max_size=40)), max_size=40)
        return st.one_of(raw, lines.map(lambda ls: "\r\n".join(ls).encode()))
    return raw


def _mutated(kind: str) -> st.SearchStrategy[bytes]:
    return st.builds(
        _apply, st.sampled_from(seeds(kind)), st.lists(_mutation(kind), min_size=1, max_size=4)
    )


def _mutation(kind: str) -> st.SearchStrategy[tuple[object, ...]]:
    ops = [
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 512)),
        st.tuples(st.just("duplicate"), st.floats(0, 1), st.integers(1, 512), st.integers(1, 50)),
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 7)),
        st.tuples(st.just("splice"), st.floats(0, 1), st.sampled_from(sorted(MEDIA_TYPES))),
    ]
    if kind in _ZIP_KINDS:
        sizes = st.sampled_from([0, 1, 1 << 20, 1 << 30, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF)
        ops.append(
            st.tuples(
                st.just("directory"), st.integers(0, 63), st.sampled_from([20, 24, 42]), sizes
            )
        )
    return st.one_of(ops)


def _apply(seed: bytes, mutations: list[tuple[object, ...]]) -> bytes:
    data = bytearray(seed)
    for op, *args in mutations:
        at = int(float(args[0]) * len(data)) if op != "directory" else 0  # type: ignore[arg-type]
        if op == "truncate":
            del data[at:]
        elif op == "overwrite":
            junk = args[1]
            data[at : at + len(junk)] = junk  # type: ignore[arg-type]
        elif op == "insert":
            data[at:at] = args[1]  # type: ignore[index]
        elif op == "delete":
            del data[at : at + int(args[1])]  # type: ignore[call-overload]
        elif op == "duplicate":
            span = bytes(data[at : at + int(args[1])])  # type: ignore[call-overload]
            data[at:at] = span * int(args[2])  # type: ignore[call-overload]
        elif op == "flip" and data:
            data[min(at, len(data) - 1)] ^= 1 << int(args[1])  # type: ignore[call-overload]
        elif op == "splice":
            other = seeds(str(args[1]))[0]
            data[at:] = other[int(float(args[0]) * len(other)) :]  # type: ignore[arg-type]
        elif op == "directory":
            _lie_in_directory(data, int(args[0]), int(args[1]), int(args[2]))  # type: ignore[call-overload]
    return bytes(data)


def _lie_in_directory(data: bytearray, entry: int, field: int, value: int) -> None:
    """Write ``value`` into a central directory entry's compressed size (20), size (24)
    or local header offset (42)."""
    starts = []
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        starts.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    if starts:
        start = starts[entry % len(starts)] + field
        if start + 4 <= len(data):
            data[start : start + 4] = struct.pack("<L", value)


def _pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

    styles = getSampleStyleSheet()
    story = [
        Paragraph("Fuzzing seed: first page text.", styles["Normal"]),
        Table([["a", "b"], ["1", "2"]]),
        PageBreak(),
        Paragraph("Second page.", styles["Heading1"]),
    ]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Seed").build(story)
    return buf.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Seed", level=1)
    document.add_paragraph("Fuzzing seed paragraph.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text = "cell"
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
