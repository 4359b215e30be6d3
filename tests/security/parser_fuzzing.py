"""Seeds and Hypothesis strategies for fuzzing every parser, shared by the CI test
(``test_parser_fuzz.py``, a small budget) and ``bench/fuzz_parsers.py`` (a long run).

Inputs are either generated from scratch (bytes, text, JSON values, tag soup) or made by
mutating valid seed files that real libraries write here (reportlab for PDF, python-docx
for DOCX): truncation, overwritten/inserted/deleted/duplicated spans, bit flips, splices
of two seeds, and for zips, lies written into the central directory's size fields.
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache

from hypothesis import strategies as st

from ragd.adapters.parsers.docx import DOCX

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
}


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
    if kind in ("docx", "zip"):
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
