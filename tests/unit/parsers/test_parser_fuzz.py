"""Whatever bytes arrive, a parser returns text or says why not: never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragd.adapters.parsers import SUPPORTED_MEDIA_TYPES, parse_document
from ragd.errors import DocumentRejected

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _check(data: bytes, media_type: str) -> None:
    try:
        doc = parse_document(data, media_type, source="fuzz")
    except DocumentRejected as exc:
        assert str(exc)
        return
    assert doc.sections
    assert all(s.text.strip() for s in doc.sections)


@pytest.mark.parametrize("media_type", sorted(SUPPORTED_MEDIA_TYPES))
@FUZZ
@given(data=st.binary(max_size=2048) | st.text(max_size=500).map(str.encode))
def test_arbitrary_bytes(media_type: str, data: bytes) -> None:
    _check(data, media_type)


@FUZZ
@given(value=json_values)
def test_arbitrary_json(value: object) -> None:
    _check(json.dumps(value).encode(), "application/json")


@FUZZ
@given(data=st.data())
def test_damaged_pdf(two_page_pdf: bytes, data: st.DataObject) -> None:
    _check(_damage(two_page_pdf, data), "application/pdf")


@FUZZ
@given(data=st.data())
def test_damaged_docx(sample_docx: bytes, data: st.DataObject) -> None:
    _check(
        _damage(sample_docx, data),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


def _damage(original: bytes, data: st.DataObject) -> bytes:
    """Truncate the file, or overwrite a stretch of it with random bytes."""
    start = data.draw(st.integers(0, len(original) - 1), label="start")
    if data.draw(st.booleans(), label="truncate"):
        return original[:start]
    junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
    return original[:start] + junk + original[start + len(junk) :]
