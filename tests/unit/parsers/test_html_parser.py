from __future__ import annotations

import pytest

from ragd.adapters.parsers import parse_document
from ragd.errors import DocumentRejected

HTML = "text/html"
BOILERPLATE = ["Zebracorp", "Homepage quicklink", "Storefront", "cookies", "Sponsored", "xyzzy"]


def test_article_text_kept_and_boilerplate_dropped(article_html: bytes) -> None:
    doc = parse_document(article_html, HTML, source="page.html")

    assert "green plants convert light energy" in doc.text
    assert "thylakoid membranes" in doc.text
    for word in BOILERPLATE:
        assert word not in doc.text


def test_title_and_heading_paths(article_html: bytes) -> None:
    doc = parse_document(article_html, HTML, source="page.html")

    assert doc.title is not None and "Understanding Photosynthesis" in doc.title
    paths = {s.heading_path for s in doc.sections}
    assert ("Understanding Photosynthesis", "Calvin cycle") in paths


def test_tiny_page_falls_back_to_body_text() -> None:
    html = (
        "<html><head><title>Note</title><style>p{color:red}</style></head>"
        "<body><nav>Menu link</nav><p>Short note.</p><footer>Foot</footer></body></html>"
    )
    doc = parse_document(html.encode(), HTML, source="note.html")

    assert "Short note." in doc.text
    assert "Menu link" not in doc.text
    assert "color:red" not in doc.text
    assert doc.title == "Note"


def test_page_without_text_is_rejected() -> None:
    html = b"<html><head><script>var x = 1;</script></head><body><nav>Home</nav></body></html>"
    with pytest.raises(DocumentRejected, match=r"no (readable )?text"):
        parse_document(html, HTML, source="empty.html")


def test_latin1_page_with_meta_charset() -> None:
    html = (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
        "<body><p>Cr\xe8me br\xfbl\xe9e au caf\xe9.</p></body></html>"
    ).encode("latin-1")
    doc = parse_document(html, HTML, source="fr.html")

    assert "Crème brûlée au café." in doc.text


def test_body_text_fallback_when_trafilatura_finds_nothing(
    monkeypatch: pytest.MonkeyPatch, article_html: bytes
) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "extract", lambda *a, **k: None)
    doc = parse_document(article_html, HTML, source="page.html")

    assert "thylakoid membranes" in doc.text
    for word in BOILERPLATE:
        assert word not in doc.text


def test_header_inside_article_is_kept() -> None:
    html = (
        "<html><body><header>Site chrome</header><article><header><h1>Real Headline</h1>"
        "</header><p>" + "Body sentence about glaciers and ice sheets. " * 12 + "</p>"
        "</article></body></html>"
    )
    doc = parse_document(html.encode(), HTML, source="a.html")

    assert "Site chrome" not in doc.text
    assert doc.sections[0].heading_path == ("Real Headline",)
