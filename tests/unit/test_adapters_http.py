"""The shared HTTP provider layer (``ragd.adapters.http``) and the provider registry
(``ragd.adapters.providers``): pure functions and imports, no server.

How each remote adapter applies the error map end to end, over real HTTP, is pinned by
``tests/contract/test_provider_errors.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from inspect import Parameter, signature
from typing import Any

import pytest

from ragd.adapters import providers
from ragd.adapters.http.errors import (
    ProviderUnavailable,
    error_detail,
    error_for_status,
    parse_retry_after,
)
from ragd.adapters.http.sse import sse_data
from ragd.adapters.providers import Builder
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest


def test_sse_data_follows_the_event_stream_rules() -> None:
    lines = [
        ": keep-alive comment",
        "event: message",
        "id: 7",
        'data: {"a": 1}',
        "",
        "data:first",
        "data: second",
        "",
        "",
        "retry: 100",
        "data: [DONE]",
    ]
    assert list(sse_data(lines)) == ['{"a": 1}', "first\nsecond", "[DONE]"]


# Retryable statuses are ProviderUnavailable, a BackendUnavailable that carries the
# status and Retry-After. 402 and 425 are new rows: the embedder and LLM maps used to
# disagree on them (402 InvalidRequest for LLMs; 425 retryable for embedders only).
@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, None, InvalidRequest),
        (401, "invalid_api_key", ConfigError),
        (402, None, ConfigError),
        (403, None, ConfigError),
        (404, "model_not_found", ConfigError),
        (408, None, ProviderUnavailable),
        (409, None, ProviderUnavailable),
        (413, None, InvalidRequest),
        (422, None, InvalidRequest),
        (425, None, ProviderUnavailable),
        (429, "rate_limit_exceeded", ProviderUnavailable),
        (429, "insufficient_quota", ConfigError),
        (429, "billing_error", ConfigError),
        (500, None, ProviderUnavailable),
        (503, None, ProviderUnavailable),
        (529, None, ProviderUnavailable),
        (302, None, ProviderUnavailable),
    ],
)
def test_error_for_status(status: int, code: str | None, expected: type[Exception]) -> None:
    assert type(error_for_status(status, "detail", provider="p", code=code)) is expected


def test_a_retryable_status_keeps_the_status_and_retry_after() -> None:
    error = error_for_status(429, "slow down", provider="p", retry_after=2.0)
    assert isinstance(error, ProviderUnavailable)
    assert isinstance(error, BackendUnavailable)
    assert error.retryable
    assert error.code == BackendUnavailable.code
    assert (error.status, error.retry_after_seconds) == (429, 2.0)
    assert str(error) == "p answered HTTP 429, retry after 2s: slow down"


def test_configuration_errors_name_the_setting_to_check() -> None:
    def message(status: int) -> str:
        return str(error_for_status(status, "d", provider="p", key_hint="K", model_hint="M"))

    assert message(401) == "p answered HTTP 401 (check K): d"
    assert message(404) == "p answered HTTP 404 (check M): d"
    assert "credit" in message(402)


def test_error_detail_reads_the_usual_shapes_and_masks_the_secret() -> None:
    openai = {"error": {"message": "Incorrect API key provided: sk-abc", "code": "invalid_api_key"}}
    assert error_detail(openai, "sk-abc") == "invalid_api_key: Incorrect API key provided: ***"
    assert error_detail({"error": "model 'x' not found"}) == "model 'x' not found"
    assert error_detail("<html>\n  <b>502</b>\n</html>") == "<html> <b>502</b> </html>"
    assert len(error_detail("x" * 5000)) == 300
    assert error_detail({"detail": [{"msg": "a"}, {"msg": "b"}]}) == "a; b"
    assert error_detail({"id": "1", "message": "cohere says no"}) == "cohere says no"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 0.5 ", 0.5),
        (None, None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),
        ("-1", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


# -- the provider registry ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("all-MiniLM-L6-v2", ("onnx-minilm", None)),
        ("sentence-transformers/all-MiniLM-L6-v2", ("onnx-minilm", None)),
        ("hashing-64", ("hashing", None)),
        ("openai:text-embedding-3-small", ("openai", "text-embedding-3-small")),
        ("openai-compatible:bge", ("openai-compatible", "bge")),
        ("jina:jina-embeddings-v3", ("jina", "jina-embeddings-v3")),
        ("ollama:nomic-embed-text:v1.5", ("ollama", "nomic-embed-text:v1.5")),
    ],
)
def test_embedding_model_names(name: str, expected: tuple[str, str | None]) -> None:
    assert providers.embedder_provider(name) == expected


@pytest.mark.parametrize("name", ["bert", "cohere:embed-v4", "openai:", "hashing"])
def test_unknown_embedding_models_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_MODEL"):
        providers.embedder_provider(name)


REGISTRY: list[tuple[Mapping[str, Builder[Any]], type]] = [
    (providers.LOCAL_EMBEDDERS, providers.LocalEmbedderBuilder),
    (providers.REMOTE_EMBEDDERS, providers.RemoteEmbedderBuilder),
    (providers.LOCAL_LLMS, providers.LocalLLMBuilder),
    (providers.REMOTE_LLMS, providers.RemoteLLMBuilder),
    (providers.RERANKERS, providers.RerankerBuilder),
]


def test_every_registered_builder_resolves_to_its_tables_signature() -> None:
    """Each ``module:function`` string names a function that exists (a typo would
    otherwise surface only when an operator picks that provider) and takes what its
    table's ``Protocol`` passes: the same sections, in the same order (mypy cannot see
    through the import by name)."""
    for table, protocol in REGISTRY:
        wanted = [p.annotation for p in signature(protocol.__call__).parameters.values()][1:]
        for name, builder in table.items():
            function = builder.load(protocol.__name__, name)
            params = signature(function).parameters.values()
            takes = [p.annotation for p in params if p.default is Parameter.empty]
            assert takes == wanted, (name, function)
            assert all(p.kind is not Parameter.KEYWORD_ONLY for p in params), name


def test_unknown_llm_and_reranker_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown LLM provider 'gpt'; known: extractive"):
        providers.build_llm(Settings(), "gpt")
    with pytest.raises(ConfigError, match="unknown RERANKER_MODEL 'voyage:rerank-2'"):
        providers.build_reranker(Settings(reranker_model="voyage:rerank-2"))


def test_a_missing_optional_dependency_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if ``httpx`` were not installed: importing the adapter fails, the registry
    names the package and the install command (``sys.modules[x] = None`` makes the
    import fail, txtai-style)."""
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "ragd.adapters.reranker.remote", raising=False)
    with pytest.raises(ConfigError) as info:
        Builder("ragd.adapters.reranker.remote:build", extra="remote").load("RERANKER_MODEL", "x")
    assert str(info.value) == (
        "RERANKER_MODEL 'x' needs httpx, which is not installed: pip install 'ragd[remote]'"
    )
    with pytest.raises(
        ConfigError, match=r"needs httpx, which is not installed: pip install ragd$"
    ):
        Builder("ragd.adapters.reranker.remote:build").load("RERANKER_MODEL", "x")


def test_a_broken_ragd_module_is_not_reported_as_a_missing_install() -> None:
    with pytest.raises(ImportError):
        Builder("ragd.adapters.no_such_adapter:build").load("LLM provider", "x")
