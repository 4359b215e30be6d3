"""One HTTP status, one outcome: every remote adapter translates a provider's failure
into the same ``ragd.errors`` type with the same retry decision (``exc.retryable``).

Parametrized over every remote adapter, each built from Settings through the provider
registry as the container builds it, and each talking real HTTP on loopback to the fake
of its provider (``tests/fakes``), which answers the scripted status in that provider's
own error body (OpenAI's ``{"error": {...}}``, Jina's ``{"detail"}``, Ollama's
``{"error": "..."}``, Anthropic's ``{"type": "error", ...}``, Cohere's ``{"message"}``):

* embedders: ``openai``, ``openai-compatible``, ``jina``, ``ollama``;
* LLMs: ``openai``, ``openai-compatible``, ``anthropic``, ``ollama`` (whole and streamed);
* rerankers: ``jina``, ``cohere``.

:data:`EXPECTED` is written out here rather than imported, so a change to the map in
``ragd.adapters.http.errors`` has to change this table too. It pins the decisions the
embedder and LLM maps used to disagree on: 402 (out of credit) is a configuration
problem, 425 (Too Early) is worth retrying. A 429 carries its ``Retry-After``.

To add a remote adapter, add a :class:`Case` to :func:`_cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from ragd.adapters.http.errors import ProviderUnavailable
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError
from ragd.ports.llm import ChatMessage, GenerationRequest
from ragd.services.container import build_embedder, build_provider, build_reranker
from tests.fakes import anthropic_server, embeddings_server, ollama_server, rerank_server
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.embeddings_server import FakeEmbeddingsServer
from tests.fakes.http_base import FakeServer, Reply
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer
from tests.fakes.openai_server import Reply as OpenAIReply
from tests.fakes.rerank_server import COHERE_MODEL, JINA_MODEL, FakeRerankServer

KEY = "sk-provider-errors-5b1e"
RETRY_AFTER = "2"

EXPECTED: dict[int, tuple[type[RagdError], bool]] = {
    400: (InvalidRequest, False),
    401: (ConfigError, False),
    402: (ConfigError, False),
    403: (ConfigError, False),
    404: (ConfigError, False),
    408: (ProviderUnavailable, True),
    409: (ProviderUnavailable, True),
    413: (InvalidRequest, False),
    422: (InvalidRequest, False),
    425: (ProviderUnavailable, True),
    429: (ProviderUnavailable, True),
    500: (ProviderUnavailable, True),
    502: (ProviderUnavailable, True),
    503: (ProviderUnavailable, True),
    504: (ProviderUnavailable, True),
    529: (ProviderUnavailable, True),
}
"""Status -> (exact error type, retryable). ``ProviderUnavailable`` is a
``BackendUnavailable`` that also carries the status and ``Retry-After``."""

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` Anthropic sends with each status (``api_error`` otherwise)."""


class ErrorBody(Protocol):
    """A provider's error answer, as its fake writes it (``tests.fakes``)."""

    def __call__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> Reply: ...


def _openai_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return OpenAIReply.error(status, message, type="server_error", headers=headers)


def _anthropic_error(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> Reply:
    kind = ANTHROPIC_TYPES.get(status, "api_error")
    return anthropic_server.error(status, kind, message, headers=headers)


@dataclass(frozen=True)
class Case:
    server: FakeServer
    error: ErrorBody
    call: Callable[[], object]
    """One call of the port through a freshly built adapter."""


@dataclass(frozen=True)
class Servers:
    embeddings: FakeEmbeddingsServer
    """OpenAI's flavor of ``/v1/embeddings``, and Ollama's ``/api/embed``."""
    jina: FakeEmbeddingsServer
    openai: FakeOpenAIServer
    anthropic: FakeAnthropicServer
    ollama: FakeOllamaServer
    rerank: FakeRerankServer


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with (
        FakeEmbeddingsServer(flavor="openai", api_key=KEY) as embeddings,
        FakeEmbeddingsServer(flavor="jina", api_key=KEY) as jina,
        FakeOpenAIServer(api_key=KEY) as openai,
        FakeAnthropicServer(api_key=KEY) as anthropic,
        FakeOllamaServer() as ollama,
        FakeRerankServer(api_key=KEY) as rerank,
    ):
        yield Servers(embeddings, jina, openai, anthropic, ollama, rerank)


REQUEST = GenerationRequest(
    messages=[ChatMessage("system", "Cite passages."), ChatMessage("user", "Why tides?")],
    question="Why tides?",
    passages=["The moon pulls the sea."],
    max_tokens=8,
    temperature=0.0,
)


def settings(**fields: Any) -> Settings:
    """Settings with every provider field explicit, so the environment cannot leak in."""
    base: dict[str, Any] = {
        "embedding_api_key": KEY,
        "openai_api_key": None,
        "jina_api_key": None,
        "embedding_batch_size": 4,
        "embedding_max_tokens": None,
        "embedding_timeout_seconds": 10.0,
        "llm_model": None,
        "llm_base_url": None,
        "llm_context_window": None,
        "llm_timeout_seconds": 10.0,
        "anthropic_api_key": None,
        "anthropic_base_url": None,
        "anthropic_model": None,
        "ollama_model": None,
        "reranker_base_url": None,
        "reranker_api_key": None,
        "cohere_api_key": None,
        "reranker_timeout_seconds": 10.0,
    }
    return Settings(**{**base, **fields})


def _embed(model: str, base_url: str, dimension: int) -> Callable[[], object]:
    def call() -> object:
        embedder = build_embedder(
            settings(embedding_model=model, embedding_base_url=base_url, vector_size=dimension)
        )
        return embedder.embed_query("Why are there tides?")

    return call


def _llm(provider: str, *, stream: bool, **fields: Any) -> Callable[[], object]:
    def call() -> object:
        llm = build_provider(settings(llm_provider=provider, **fields), provider)
        return list(llm.stream(REQUEST)) if stream else llm.complete(REQUEST)

    return call


def _rerank(model: str, base_url: str, **keys: Any) -> Callable[[], object]:
    def call() -> object:
        reranker = build_reranker(
            settings(reranker_model=model, reranker_base_url=base_url, **keys)
        )
        assert reranker is not None
        return reranker.rerank("Why tides?", ["The moon pulls the sea.", "Bees dance."])

    return call


def _cases(s: Servers) -> dict[str, Case]:
    openai_llm = {"llm_base_url": s.openai.base_url, "llm_model": DEFAULT_MODEL}
    anthropic_llm = {
        "anthropic_api_key": KEY,
        "anthropic_base_url": s.anthropic.base_url,
        "llm_model": anthropic_server.DEFAULT_MODEL,
    }
    ollama_llm = {"ollama_url": s.ollama.base_url, "llm_model": ollama_server.DEFAULT_MODEL}
    cases = {
        "embedder-openai": Case(
            s.embeddings,
            embeddings_server.openai_error,
            _embed("openai:text-embedding-3-small", s.embeddings.base_url, 768),
        ),
        "embedder-openai-compatible": Case(
            s.embeddings,
            embeddings_server.openai_error,
            _embed("openai-compatible:nomic-embed-text", s.embeddings.base_url, 768),
        ),
        "embedder-jina": Case(
            s.jina,
            embeddings_server.jina_error,
            _embed("jina:jina-embeddings-v3", s.jina.base_url, 1024),
        ),
        "embedder-ollama": Case(
            s.embeddings,
            embeddings_server.ollama_error,
            _embed("ollama:nomic-embed-text", s.embeddings.root_url, 768),
        ),
        "reranker-jina": Case(
            s.rerank,
            rerank_server.jina_error,
            _rerank(f"jina:{JINA_MODEL}", s.rerank.base_url, jina_api_key=KEY),
        ),
        "reranker-cohere": Case(
            s.rerank,
            rerank_server.cohere_error,
            _rerank(f"cohere:{COHERE_MODEL}", s.rerank.base_url, cohere_api_key=KEY),
        ),
    }
    for stream in (False, True):
        how = "stream" if stream else "complete"
        cases[f"llm-openai-{how}"] = Case(
            s.openai,
            _openai_error,
            _llm("openai", stream=stream, openai_api_key=KEY, **openai_llm),
        )
        cases[f"llm-openai-compatible-{how}"] = Case(
            s.openai,
            _openai_error,
            _llm("openai-compatible", stream=stream, openai_api_key=KEY, **openai_llm),
        )
        cases[f"llm-anthropic-{how}"] = Case(
            s.anthropic, _anthropic_error, _llm("anthropic", stream=stream, **anthropic_llm)
        )
        cases[f"llm-ollama-{how}"] = Case(
            s.ollama, ollama_server.error, _llm("ollama", stream=stream, **ollama_llm)
        )
    return cases


ADAPTERS = [
    *(f"embedder-{p}" for p in ("openai", "openai-compatible", "jina", "ollama")),
    *(
        f"llm-{p}-{how}"
        for p in ("openai", "openai-compatible", "anthropic", "ollama")
        for how in ("complete", "stream")
    ),
    "reranker-jina",
    "reranker-cohere",
]


@pytest.fixture(params=ADAPTERS)
def case(request: pytest.FixtureRequest, servers: Servers) -> Iterator[Case]:
    """A remote adapter's case; its fake server's script is emptied afterwards."""
    chosen = _cases(servers)[str(request.param)]
    yield chosen
    chosen.server.reset()


def test_every_remote_adapter_is_covered(servers: Servers) -> None:
    assert sorted(_cases(servers)) == sorted(ADAPTERS)


def test_the_adapters_answer_when_nothing_fails(case: Case) -> None:
    """The baseline: without a scripted failure every case succeeds, so the failures
    below come from the scripted status and nothing else."""
    assert case.call() is not None


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_the_same_status_gives_the_same_error_and_retry_decision(case: Case, status: int) -> None:
    kind, retryable = EXPECTED[status]
    case.server.enqueue(case.error(status, f"scripted failure {status}"))
    with pytest.raises(RagdError) as info:
        case.call()
    error = info.value
    assert type(error) is kind, f"HTTP {status} gave {type(error).__name__}: {error}"
    assert error.retryable is retryable
    assert f"HTTP {status}" in str(error)
    if isinstance(error, ProviderUnavailable):
        assert isinstance(error, BackendUnavailable)
        assert (error.status, error.retry_after_seconds) == (status, None)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_kept(case: Case, status: int) -> None:
    headers = {"Retry-After": RETRY_AFTER}
    case.server.enqueue(case.error(status, "slow down", headers=headers))
    with pytest.raises(ProviderUnavailable) as info:
        case.call()
    assert info.value.retryable
    assert info.value.retry_after_seconds == float(RETRY_AFTER)
    assert f"HTTP {status}, retry after {RETRY_AFTER}s" in str(info.value)
