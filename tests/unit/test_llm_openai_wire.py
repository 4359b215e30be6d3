"""The shared Chat Completions wire helpers and the token estimate (pure functions).

The error map and the other HTTP helpers are tested in ``test_adapters_http.py``."""

from __future__ import annotations

import itertools

import pytest

from ragd.adapters.http.errors import WireError
from ragd.adapters.llm.estimate import estimate_tokens
from ragd.adapters.llm.openai_wire import (
    ChunkEvent,
    error_from_payload,
    parse_chunk,
    parse_completion,
    parse_usage,
)
from ragd.errors import BackendUnavailable, InvalidRequest
from ragd.ports.llm import Usage


def test_parse_chunk_reads_delta_finish_and_usage() -> None:
    assert parse_chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]}) == (
        ChunkEvent()
    )
    assert parse_chunk({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}) == (
        ChunkEvent(delta="Hi")
    )
    assert parse_chunk({"choices": [{"delta": {}, "finish_reason": "length"}]}) == ChunkEvent(
        finish_reason="length"
    )
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert parse_chunk({"choices": [], "usage": usage}) == ChunkEvent(usage=Usage(3, 2))


def test_parse_chunk_rejects_garbage_and_translates_errors() -> None:
    with pytest.raises(WireError):
        parse_chunk([1])
    with pytest.raises(WireError):
        parse_chunk({"choices": [{"delta": {"content": ["x"]}}]})
    with pytest.raises(InvalidRequest, match="exceeds"):
        parse_chunk({"error": {"code": 400, "message": "exceeds the context", "type": "x"}})


def test_parse_completion() -> None:
    body = {
        "choices": [{"message": {"role": "assistant", "content": "A [1]."}, "finish_reason": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }
    assert parse_completion(body) == ("A [1].", "stop", Usage(10, 3))
    refusal = {"choices": [{"message": {"content": None, "refusal": "no"}}]}
    assert parse_completion(refusal) == ("", "stop", None)
    with pytest.raises(WireError):
        parse_completion({"choices": []})
    with pytest.raises(WireError):
        parse_completion({"choices": [{"text": "legacy completions shape"}]})


@pytest.mark.parametrize(
    "value",
    [None, {}, {"prompt_tokens": 1}, {"prompt_tokens": "1", "completion_tokens": 2}, [1, 2]],
)
def test_parse_usage_ignores_incomplete_usage(value: object) -> None:
    assert parse_usage(value) is None


def test_error_from_payload_prefers_the_numeric_code_in_the_body() -> None:
    payload = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    error = error_from_payload(payload, status=500, provider="llama.cpp")
    assert isinstance(error, BackendUnavailable)
    assert "503" in str(error)


# -- estimate --------------------------------------------------------------------------


def test_estimate_of_nothing_is_zero() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens(" \n\t ") == 0


def test_estimate_counts_words_digits_punctuation_and_scripts() -> None:
    assert estimate_tokens("the") == 1
    assert estimate_tokens("answer") == 2
    assert estimate_tokens("photosynthesis") == 4
    assert estimate_tokens("2026") == 2  # "202" + "6"
    assert estimate_tokens("Hi, [1].") == 6  # Hi , [ 1 ] .
    assert estimate_tokens("東京都") == 3
    assert estimate_tokens("café") == 2  # "caf" + "é"


def test_estimate_is_in_the_range_of_bpe_tokenizers_for_english() -> None:
    text = (
        "Spring tides happen when the sun, the moon and the earth are aligned, so the "
        "gravitational pulls of the sun and the moon add up and high tides are higher."
    )
    words = len(text.split())
    assert 1.1 * words <= estimate_tokens(text) <= 1.8 * words


def test_estimate_never_decreases_when_text_is_appended() -> None:
    text = "Neap tides: 1st & 3rd quarter moons (≈7 days apart), pulls cancel — partly."
    counts = [estimate_tokens(text[:i]) for i in range(len(text) + 1)]
    assert all(b >= a for a, b in itertools.pairwise(counts))
