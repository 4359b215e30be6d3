"""Which log fields are treated as credentials: secret-sounding names are redacted, token
*counts* (what cost and usage lines are made of) are not."""

from __future__ import annotations

import pytest

from ragd.observability.logging import REDACTED, is_secret_key, scrub


@pytest.mark.parametrize(
    "name",
    ["authorization", "api_key", "X-Api-Key", "token", "access_token", "refresh_token",
     "id_token", "client_secret", "password", "cookie", "session_cookie"],
)  # fmt: skip
def test_credential_fields_are_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["prompt_tokens", "completion_tokens", "total_tokens", "max_tokens", "tokens"]
)
def test_token_counts_are_not_secret(name: str) -> None:
    assert not is_secret_key(name)


def test_scrub_keeps_counts_and_hides_credentials() -> None:
    out = scrub({"prompt_tokens": 812, "access_token": "abc123def456", "nested": {"token": "x"}})
    assert out == {"prompt_tokens": 812, "access_token": REDACTED, "nested": {"token": REDACTED}}
