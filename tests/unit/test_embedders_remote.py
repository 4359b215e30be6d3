"""The remote embedders (OpenAI and compatible servers, Jina, Ollama) against the fake
embeddings server: wire formats, batching, truncation, errors, keys, settings. The
contract (tests/contract/test_embedder_contract.py) covers what every embedder shares."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from ragd.adapters.embedder.jina import JinaEmbedder
from ragd.adapters.embedder.ollama import OllamaEmbedder
from ragd.adapters.embedder.openai import OPENAI_BASE_URL, OpenAIEmbedder
from ragd.adapters.embedder.remote import EstimateTokenizer, RemoteEmbedder
from ragd.adapters.llm.estimate import estimate_tokens
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.services.container import build_embedder
from tests.fakes.embeddings_server import (
    FakeEmbeddingsServer,
    fake_vector,
    jina_error,
    ollama_error,
    openai_error,
)
from tests.fakes.http_base import Reply

KEY = "sk-embed-test-3c8e1f0a"
TEXTS = ["Tides follow the moon.", "Bees dance to show the way.", "Neap tides are weak."]

Factory = Callable[..., RemoteEmbedder]


def openai_embedder(server: FakeEmbeddingsServer, **kw: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "text-embedding-3-small",
        "dimension": 64,
        "api_key": KEY,
        "send_dimensions": True,
        "timeout": 5.0,
    }
    return OpenAIEmbedder(**{**options, **kw})


def jina_embedder(server: FakeEmbeddingsServer, **kw: Any) -> JinaEmbedder:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "jina-embeddings-v3",
        "dimension": 64,
        "api_key": KEY,
        "timeout": 5.0,
    }
    return JinaEmbedder(**{**options, **kw})


def ollama_embedder(server: FakeEmbeddingsServer, **kw: Any) -> OllamaEmbedder:
    options: dict[str, Any] = {
        "base_url": server.root_url,
        "model": "nomic-embed-text",
        "dimension": 768,
        "api_key": KEY,  # for a proxy in front of Ollama
        "timeout": 5.0,
    }
    return OllamaEmbedder(**{**options, **kw})


FACTORIES: dict[str, Factory] = {
    "openai": openai_embedder,
    "jina": jina_embedder,
    "ollama": ollama_embedder,
}
ERRORS: dict[str, Callable[..., Reply]] = {
    "openai": openai_error,
    "jina": jina_error,
    "ollama": ollama_error,
}


@pytest.fixture(params=sorted(FACTORIES))
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(provider: str) -> Iterator[FakeEmbeddingsServer]:
    with FakeEmbeddingsServer(
        flavor="jina" if provider == "jina" else "openai", api_key=KEY
    ) as fake:
        yield fake


@pytest.fixture
def openai_server() -> Iterator[FakeEmbeddingsServer]:
    with FakeEmbeddingsServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def jina_server() -> Iterator[FakeEmbeddingsServer]:
    with FakeEmbeddingsServer(flavor="jina", api_key=KEY) as fake:
        yield fake


def make(provider: str, server: FakeEmbeddingsServer, **kw: Any) -> RemoteEmbedder:
    return FACTORIES[provider](server, **kw)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "embedding_model": "openai:text-embedding-3-small",
        "embedding_base_url": None,
        "embedding_api_key": None,
        "openai_api_key": None,
        "jina_api_key": None,
        "ollama_url": "http://127.0.0.1:11434",
        "vector_size": 384,
        "embedding_batch_size": 8,
        "embedding_max_tokens": None,
        "embedding_timeout_seconds": 30.0,
    }
    base.update(overrides)
    return Settings(**base)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the approximate tokenizer ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The answer is 42.",
        "photosynthesis and chlorophyllous tissue, 1234567 units",
        "Café au lait, e.g. 3.5 cups; naïve résumé.",
        "答案在第一段。 Ответ здесь!",
        "x" * 41,
    ],
)
def test_estimate_tokenizer_agrees_with_the_llm_estimate(text: str) -> None:
    tokenizer = EstimateTokenizer()
    spans = tokenizer.token_spans(text)
    assert tokenizer.count(text) == len(spans) == estimate_tokens(text)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    assert all(text[a:b].strip() == text[a:b] for a, b in spans)


def test_estimate_tokenizer_truncates_at_a_token_boundary() -> None:
    tokenizer = EstimateTokenizer()
    text = "one two six ten five"
    assert tokenizer.truncate(text, 3) == "one two six"
    assert tokenizer.truncate("photosynthesis", 2) == "photosyn"
    assert tokenizer.truncate(text, 10) == text
    assert tokenizer.count(tokenizer.truncate("photosynthesis " * 50, 7)) == 7


# -- wire formats ----------------------------------------------------------------------


def test_openai_sends_its_body_and_key(openai_server: FakeEmbeddingsServer) -> None:
    vectors = openai_embedder(openai_server).embed_documents(TEXTS)
    (sent,) = openai_server.embedding_requests()
    assert sent.path == "/v1/embeddings"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body == {
        "model": "text-embedding-3-small",
        "input": TEXTS,
        "encoding_format": "float",
        "dimensions": 64,
    }
    expected = np.asarray([fake_vector(t, 64) for t in TEXTS], dtype=np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_model_without_dimensions_is_not_sent_any(openai_server: FakeEmbeddingsServer) -> None:
    embedder = openai_embedder(
        openai_server, model="text-embedding-ada-002", dimension=1536, send_dimensions=False
    )
    assert embedder.embed_query("hello").shape == (1536,)
    assert "dimensions" not in openai_server.embedding_requests()[0].body


def test_batches_of_batch_size_in_the_callers_order(openai_server: FakeEmbeddingsServer) -> None:
    texts = [f"passage number {i} about tides" for i in range(10)]
    vectors = openai_embedder(openai_server, batch_size=4).embed_documents(texts)
    sizes = [len(r.body["input"]) for r in openai_server.embedding_requests()]
    assert sizes == [4, 4, 2]
    expected = np.asarray([fake_vector(t, 64) for t in texts], dtype=np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_empty_texts_are_not_sent(openai_server: FakeEmbeddingsServer) -> None:
    """OpenAI refuses empty input; an empty text gets the first axis, like the hashing
    embedder's."""
    embedder = openai_embedder(openai_server)
    vectors = embedder.embed_documents(["", TEXTS[0], "  \n", TEXTS[1]])
    assert [r.body["input"] for r in openai_server.embedding_requests()] == [TEXTS[:2]]
    np.testing.assert_array_equal(vectors[0], np.eye(64, dtype=np.float32)[0])
    np.testing.assert_array_equal(vectors[2], vectors[0])
    assert embedder.embed_query("").shape == (64,)
    assert len(openai_server.embedding_requests()) == 1
    assert embedder.embed_documents([]).shape == (0, 64)


def test_vectors_are_normalised_here() -> None:
    with FakeEmbeddingsServer(normalize=False) as fake:
        vectors = openai_embedder(fake).embed_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_base64_and_shuffled_answers_are_read(openai_server: FakeEmbeddingsServer) -> None:
    rows = [fake_vector(t, 64) for t in TEXTS]
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(np.asarray(rows[i], "<f4").tobytes()).decode(),
        }
        for i in range(3)
    ]
    random.Random(3).shuffle(data)
    openai_server.enqueue(Reply.json(200, {"object": "list", "data": data}))
    vectors = openai_embedder(openai_server).embed_documents(TEXTS)
    np.testing.assert_allclose(vectors, np.asarray(rows, np.float32), atol=1e-6)


def test_long_texts_are_cut_before_they_are_sent(openai_server: FakeEmbeddingsServer) -> None:
    """OpenAI refuses input over the model's limit (the fake: over 512 words)."""
    long_text = "tide " * 2000
    embedder = openai_embedder(openai_server, max_tokens=300)
    vector = embedder.embed_query(long_text)
    sent = openai_server.embedding_requests()[0].body["input"][0]
    assert embedder.tokenizer.count(sent) == 300
    np.testing.assert_allclose(vector, fake_vector(" ".join(["tide"] * 300), 64), atol=1e-6)
    with pytest.raises(InvalidRequest, match="maximum context length"):
        openai_embedder(openai_server, max_tokens=5000).embed_query(long_text)


def test_jina_sends_tasks_and_dimensions(jina_server: FakeEmbeddingsServer) -> None:
    embedder = jina_embedder(jina_server)
    documents = embedder.embed_documents(TEXTS[:1])
    query = embedder.embed_query(TEXTS[0])
    doc_body, query_body = (r.body for r in jina_server.embedding_requests())
    assert doc_body == {
        "model": "jina-embeddings-v3",
        "input": TEXTS[:1],
        "embedding_type": "float",
        "truncate": True,
        "task": "retrieval.passage",
        "dimensions": 64,
    }
    assert query_body["task"] == "retrieval.query"
    assert 0.8 < float(documents[0] @ query) < 0.9999  # asymmetric, as the real model is


def test_jina_v2_takes_no_task(jina_server: FakeEmbeddingsServer) -> None:
    embedder = jina_embedder(jina_server, model="jina-embeddings-v2-base-en", dimension=768)
    embedder.embed_query("hello")
    body = jina_server.embedding_requests()[0].body
    assert "task" not in body
    assert "dimensions" not in body


def test_ollama_uses_api_embed_with_the_models_prefixes(
    openai_server: FakeEmbeddingsServer,
) -> None:
    embedder = ollama_embedder(openai_server)
    documents = embedder.embed_documents(TEXTS[:2])
    query = embedder.embed_query(TEXTS[0])
    doc_request, query_request = openai_server.embedding_requests()
    assert doc_request.path == "/api/embed"
    assert doc_request.body == {
        "model": "nomic-embed-text",
        "input": [f"search_document: {t}" for t in TEXTS[:2]],
        "truncate": True,
    }
    assert query_request.body["input"] == [f"search_query: {TEXTS[0]}"]
    assert documents.shape == (2, 768)
    assert float(documents[0] @ query) < 0.9999


def test_ollama_models_without_prefixes_get_none(openai_server: FakeEmbeddingsServer) -> None:
    embedder = ollama_embedder(openai_server, model="all-minilm:33m", dimension=384)
    embedder.embed_query("hello")
    assert openai_server.embedding_requests()[0].body["input"] == ["hello"]
    assert embedder.max_tokens == 256


def test_a_dimension_other_than_vector_size_is_a_config_error(
    openai_server: FakeEmbeddingsServer,
) -> None:
    embedder = openai_embedder(
        openai_server, model="nomic-embed-text", dimension=384, send_dimensions=False
    )
    with pytest.raises(ConfigError, match="768-d vectors but VECTOR_SIZE=384"):
        embedder.embed_query("hello")


# -- errors, for every provider --------------------------------------------------------


def test_429_with_retry_after_is_backend_unavailable(
    provider: str, server: FakeEmbeddingsServer
) -> None:
    server.enqueue(ERRORS[provider](429, "Rate limit reached", headers={"Retry-After": "2"}))
    with pytest.raises(BackendUnavailable) as info:
        make(provider, server).embed_documents(TEXTS)
    assert info.value.retryable
    assert "429, retry after 2s" in str(info.value)
    assert "Rate limit reached" in str(info.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_backend_unavailable(
    provider: str, server: FakeEmbeddingsServer, status: int
) -> None:
    server.enqueue(ERRORS[provider](status, "internal error"))
    with pytest.raises(BackendUnavailable, match=str(status)):
        make(provider, server).embed_query("hello")


def test_401_is_a_config_error_and_the_key_is_masked(
    provider: str, server: FakeEmbeddingsServer
) -> None:
    wrong = "sk-wrong-0123456789abcdef"
    if provider == "ollama":  # no keys of its own: a proxy in front of it refuses
        server.enqueue(ollama_error(401, f"unauthorized key {wrong}"))
    embedder = make(provider, server, api_key=wrong)
    with pytest.raises(ConfigError) as info:
        embedder.embed_query("hello")
    assert "401" in str(info.value)
    assert wrong not in str(info.value)  # the fake echoes the key it got


def test_an_unknown_model_is_a_config_error(openai_server: FakeEmbeddingsServer) -> None:
    with pytest.raises(ConfigError, match=r"404.*EMBEDDING_MODEL"):
        openai_embedder(openai_server, model="text-embedding-9").embed_query("x")
    with pytest.raises(ConfigError, match=r"ollama pull unknown-embed:v9.*not found"):
        ollama_embedder(openai_server, model="unknown-embed:v9", dimension=768).embed_query("x")


def test_a_hang_times_out(provider: str, server: FakeEmbeddingsServer) -> None:
    server.enqueue(Reply.hang(10))
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.3s"):
        make(provider, server, timeout=0.3).embed_query("hello")
    assert time.perf_counter() - started < 3


def test_a_server_that_is_not_there_is_backend_unavailable(provider: str) -> None:
    with FakeEmbeddingsServer() as gone:
        embedder = make(provider, gone)
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        embedder.embed_query("hello")


def _malformed_cases(provider: str) -> list[Reply]:
    if provider == "ollama":
        good = [fake_vector("a", 768)]
        return [
            Reply.json(200, {"embeddings": good * 2}),  # two vectors for one text
            Reply.json(200, {"embedding": good[0]}),  # the old /api/embeddings shape
            Reply.json(200, {"embeddings": [[1.0, "x"]]}),
            Reply.json(200, {"embeddings": [[0.0] * 768]}),
        ]
    good = fake_vector("a", 64)
    return [
        Reply.json(200, {"data": [{"index": 0, "embedding": good}] * 2}),  # repeated index
        Reply.json(200, {"object": "list"}),
        Reply.json(200, {"data": [{"index": 0, "embedding": [1.0, "x"]}]}),
        Reply.json(200, {"data": [{"index": 1, "embedding": good}]}),
        Reply.json(200, {"data": [{"index": 0, "embedding": "not base64!"}]}),
    ]


def test_malformed_answers_are_backend_unavailable(
    provider: str, server: FakeEmbeddingsServer
) -> None:
    replies = [
        Reply.raw("{'not': json"),
        Reply.raw("<html>Bad gateway</html>", content_type="text/html"),
        Reply.raw("[1, 2]"),
        *_malformed_cases(provider),
    ]
    embedder = make(provider, server)
    for reply in replies:
        server.enqueue(reply)
        with pytest.raises(BackendUnavailable, match="malformed"):
            embedder.embed_query("a")


def test_keys_and_texts_are_never_logged(
    provider: str, server: FakeEmbeddingsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    embedder = make(provider, server)
    embedder.embed_documents(["the secret launch code is 4711-ALPHA"])
    server.enqueue(ERRORS[provider](500, "boom"))
    with pytest.raises(BackendUnavailable):
        embedder.embed_query("the secret launch code is 4711-ALPHA")
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records
    assert KEY not in logged
    assert "4711-ALPHA" not in logged
    assert KEY not in repr(embedder)


# -- settings --------------------------------------------------------------------------


def test_build_openai() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        build_embedder(settings())
    embedder = build_embedder(settings(openai_api_key="sk-x"))
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.spec.model == "openai:text-embedding-3-small"
    assert embedder.spec.dimension == 384
    assert (embedder.base_url, embedder.max_tokens, embedder.batch_size) == (
        OPENAI_BASE_URL,
        8191,
        8,
    )
    assert not embedder.is_connected
    with pytest.raises(ConfigError, match="at most 1536"):
        build_embedder(settings(openai_api_key="sk-x", vector_size=2048))
    with pytest.raises(ConfigError, match="1536-d"):
        build_embedder(
            settings(openai_api_key="sk-x", embedding_model="openai:text-embedding-ada-002")
        )


def test_build_openai_compatible(openai_server: FakeEmbeddingsServer) -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_BASE_URL"):
        build_embedder(settings(embedding_model="openai-compatible:bge-small"))
    embedder = build_embedder(
        settings(
            embedding_model="openai-compatible:nomic-embed-text",
            embedding_base_url=openai_server.base_url,
            embedding_api_key=KEY,
            vector_size=768,
            embedding_batch_size=2,
        )
    )
    assert embedder.max_tokens == 512
    assert embedder.embed_documents(TEXTS).shape == (3, 768)
    assert [len(r.body["input"]) for r in openai_server.embedding_requests()] == [2, 1]
    assert "dimensions" not in openai_server.embedding_requests()[0].body


def test_build_jina() -> None:
    with pytest.raises(ConfigError, match="JINA_API_KEY"):
        build_embedder(settings(embedding_model="jina:jina-embeddings-v3"))
    embedder = build_embedder(
        settings(embedding_model="jina:jina-embeddings-v3", jina_api_key="jina_x", vector_size=256)
    )
    assert isinstance(embedder, JinaEmbedder)
    assert embedder.spec.model == "jina:jina-embeddings-v3"
    with pytest.raises(ConfigError, match="32 to 1024"):
        build_embedder(
            settings(embedding_model="jina:jina-embeddings-v3", jina_api_key="j", vector_size=2048)
        )


def test_build_ollama() -> None:
    embedder = build_embedder(
        settings(embedding_model="ollama:nomic-embed-text:v1.5", vector_size=768)
    )
    assert isinstance(embedder, OllamaEmbedder)
    assert embedder.model == "nomic-embed-text:v1.5"  # the tag stays part of the name
    assert embedder.spec.model == "ollama:nomic-embed-text:v1.5"
    assert embedder.base_url == "http://127.0.0.1:11434"
    assert embedder.max_tokens == 2048
    with pytest.raises(ConfigError, match="768-d"):
        build_embedder(settings(embedding_model="ollama:nomic-embed-text"))
    other = build_embedder(
        settings(
            embedding_model="ollama:some-new-embed",
            ollama_url="http://gpu-box:11434",
            embedding_max_tokens=1024,
        )
    )
    assert (other.base_url, other.max_tokens) == ("http://gpu-box:11434", 1024)


@pytest.mark.parametrize("name", ["voyage:voyage-3", "openai:", "text-embedding-3-small"])
def test_unknown_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="EMBEDDING_MODEL"):
        build_embedder(settings(embedding_model=name, openai_api_key="sk-x"))


def test_building_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_MODEL", "jina:jina-embeddings-v3")
    monkeypatch.setenv("JINA_API_KEY", "jina_env_key")
    monkeypatch.setenv("VECTOR_SIZE", "512")
    monkeypatch.setenv("EMBEDDING_BATCH_SIZE", "64")
    embedder = build_embedder(Settings())
    assert isinstance(embedder, JinaEmbedder)
    assert (embedder.spec.dimension, embedder.batch_size) == (512, 64)
    assert "jina_env_key" not in repr(embedder)
    assert json.dumps(embedder.spec.__dict__)  # the spec holds no secret objects
