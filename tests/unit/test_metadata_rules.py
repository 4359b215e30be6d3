"""The upload rules of ``ragd.domain.metadata`` on their own: the bracket pre-scan must
count structure, never brackets inside strings, and every refusal names what was wrong."""

from __future__ import annotations

import json

import pytest

from ragd.domain.metadata import (
    MAX_METADATA_DEPTH,
    check_metadata,
    parse_metadata,
    shown_metadata,
    shown_title,
)
from ragd.errors import InvalidRequest


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{"}',  # brackets inside a string
        '{"a\\"[[[[[[[[[[[[[[[[": "\\\\"}',  # escaped quotes and backslashes
        _nested(MAX_METADATA_DEPTH - 1).replace("1", "[1]", 1),  # exactly at the limit
        '{"big": 12345678901234567890, "x": -1.5e10, "u": "caf\\u00e9"}',
    ],
)
def test_what_parses(raw: str) -> None:
    assert parse_metadata(raw) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (_nested(MAX_METADATA_DEPTH + 1), "nests deeper"),
        ("[" * 200_000, "larger than"),  # over the raw bound: never scanned or parsed
        ("[" * 50_000, "nests deeper"),  # never reaches json.loads's recursion
        ('{"a": NaN}', "finite"),
        ('{"a": -Infinity}', "finite"),
        ('{"a": 1' + "0" * 5000 + "}", "not valid JSON"),  # more digits than int() reads
        ('{"a": "\\ud800"}', "surrogate"),
        ('{"a": "\\u0000"}', "NUL"),
        ("[1]", "JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_what_is_refused_and_why(raw: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        parse_metadata(raw)


def test_python_values_follow_the_same_rule() -> None:
    with pytest.raises(InvalidRequest, match="cannot hold a set"):
        check_metadata({"a": {1, 2}})
    with pytest.raises(InvalidRequest, match="keys must be non-empty strings"):
        check_metadata({1: "x"})
    assert shown_metadata({"a": float("inf")}) == (
        {},
        "metadata numbers must be finite (no NaN or Infinity)",
    )
    title, why = shown_title("x\x00" + "y" * 600)
    assert len(title) == 500 and "\x00" not in title and why
