from __future__ import annotations

import pytest

from ragd.adapters.parsers import parse_document
from ragd.errors import DocumentRejected

TEXT = "text/plain"
MARKDOWN = "text/markdown"

NESTED_MD = """Preface before any heading.

# Cooking

Cooking is applied chemistry.

## Baking

Ovens need preheating.

### Bread

- flour
- water
  1. knead
  2. rest

```
bake(220)
```

### Cakes

| Cake | Minutes |
|------|---------|
| Sponge | 25 |

## Frying

Use a [heavy pan](https://example.com/pan) and **hot** oil.

# Appendix

Measurements.
"""


def test_markdown_heading_paths_follow_nesting() -> None:
    doc = parse_document(NESTED_MD.encode(), MARKDOWN, source="cook.md")

    paths = [(s.heading_path, s.text) for s in doc.sections]
    assert paths[0] == ((), "Preface before any heading.")
    assert paths[1] == (("Cooking",), "Cooking is applied chemistry.")
    assert paths[2] == (("Cooking", "Baking"), "Ovens need preheating.")
    bread = dict(paths)[("Cooking", "Baking", "Bread")]
    assert "- flour\n- water" in bread
    assert "1. knead" in bread and "2. rest" in bread
    assert "bake(220)" in bread
    assert dict(paths)[("Cooking", "Baking", "Cakes")] == "Cake | Minutes\nSponge | 25"
    assert dict(paths)[("Cooking", "Frying")] == "Use a heavy pan and hot oil."
    assert paths[-1] == (("Appendix",), "Measurements.")
    assert doc.title == "Cooking"


def test_markdown_of_headings_only_keeps_them() -> None:
    doc = parse_document(b"# Title\n\n## Sub", MARKDOWN, source="h.md")

    assert "Title" in doc.text and "Sub" in doc.text


def test_markdown_without_h1_has_no_title() -> None:
    doc = parse_document(b"## Only h2\n\ntext", MARKDOWN, source="h.md")

    assert doc.title is None
    assert doc.sections[0].heading_path == ("Only h2",)


def test_plain_text_is_one_section_with_normalised_newlines() -> None:
    doc = parse_document(b"\xef\xbb\xbfline one\r\nline two\r\n", TEXT, source="a.txt")

    assert [s.text for s in doc.sections] == ["line one\nline two"]
    assert doc.sections[0].page is None and doc.sections[0].heading_path == ()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_text_is_decoded(encoding: str) -> None:
    original = "Grüße aus Köln – naïve café, 東京 too.\nSecond line."
    doc = parse_document(original.encode(encoding), TEXT, source="u.txt")

    assert doc.text == original


@pytest.mark.parametrize(
    ("encoding", "original"),
    [
        ("latin-1", "Café crème brûlée, à la française, déjà vu, un café noir le matin."),
        ("latin-1", "Não há ação sem reação. A informação é útil e você está convidado."),
        ("cp1252", "Grüße aus München – „Anführungszeichen“, Maß, Fuß und 20 € Trinkgeld."),
        ("cp1251", "Съешь же ещё этих мягких французских булок, да выпей чаю."),
        ("cp1250", "Zażółć gęślą jaźń, Łódź, Kraków i Wrocław są pięknymi miastami."),
    ],
)
def test_legacy_single_byte_text_is_decoded(encoding: str, original: str) -> None:
    doc = parse_document(original.encode(encoding), TEXT, source="legacy.txt")

    assert doc.text == original


def test_binary_bytes_as_text_are_rejected(random_bytes: bytes) -> None:
    with pytest.raises(DocumentRejected, match="binary data, not text"):
        parse_document(random_bytes, TEXT, source="blob.txt")


def test_nul_bytes_in_utf8_are_rejected_as_binary() -> None:
    with pytest.raises(DocumentRejected, match="binary"):
        parse_document(b"ELF\x00\x00\x00\x01\x02header\x00more" * 20, TEXT, source="x.txt")


@pytest.mark.parametrize("media_type", [TEXT, MARKDOWN, "text/html", "application/json"])
def test_whitespace_only_is_empty(media_type: str) -> None:
    with pytest.raises(DocumentRejected, match="empty"):
        parse_document(b"  \n\t \r\n ", media_type, source="blank")


def test_ansi_coloured_log_is_still_text() -> None:
    log = "\x1b[32mINFO\x1b[0m started worker\n\x1b[31mERROR\x1b[0m lost lease\n" * 20
    doc = parse_document(log.encode(), TEXT, source="app.log")

    assert "lost lease" in doc.text


def test_html_blocks_in_markdown_keep_only_their_text() -> None:
    md = (
        b'# Proj\n\n<p align="center"><img src="logo.png"> Fast &amp; small</p>\n\n'
        b"<!-- hidden -->\n"
    )
    doc = parse_document(md, MARKDOWN, source="README.md")

    assert doc.sections[0].text == "Fast & small"
