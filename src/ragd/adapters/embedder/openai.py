"""Embeddings over OpenAI's ``POST /v1/embeddings``: OpenAI itself
(``EMBEDDING_MODEL=openai:text-embedding-3-small``) and the servers that copy the format
(``openai-compatible:<name>`` with ``EMBEDDING_BASE_URL``: vLLM, TEI, LM Studio, LiteLLM,
Ollama's ``/v1``).

``dimensions`` (Matryoshka shortening) is sent for OpenAI's ``text-embedding-3-*``
models only: ``text-embedding-ada-002`` refuses it, and so do many compatible servers for
models that were not trained for it. There the server's native dimension must be
``VECTOR_SIZE``, which every answer is checked against.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from ragd.adapters.embedder.remote import Kind, RemoteEmbedder
from ragd.adapters.http.client import ProviderHTTP, bearer, secret
from ragd.adapters.http.errors import WireError
from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import EmbeddingSettings, ProviderSettings

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_MAX_TOKENS = 8191
"""Input limit of OpenAI's embedding models."""
COMPATIBLE_MAX_TOKENS = 512
"""Default input limit for other servers: the BERT-sized models they usually serve
(bge, e5, gte, MiniLM) read 512 tokens; ``RAGD_EMBEDDING_MAX_TOKENS`` raises it."""

SHORTENABLE = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
"""OpenAI models that take ``dimensions``, with their full dimension."""
FIXED = {"text-embedding-ada-002": 1536}


def parse_embeddings(payload: object) -> list[Any]:
    """The vectors of an OpenAI-style embeddings answer, ordered by ``index``.

    ``embedding`` may be a list of numbers or, for ``encoding_format=base64``, the
    little-endian float32 bytes in base64.

    Raises:
        WireError: not the wire format (no ``data`` list, indices not ``0..n-1``).
    """
    if not isinstance(payload, Mapping):
        raise WireError(f"expected a JSON object, got {type(payload).__name__}")
    data = payload.get("data")
    if not isinstance(data, list):
        raise WireError("the answer has no 'data' list")
    by_index: dict[int, Any] = {}
    for position, item in enumerate(data):
        if not isinstance(item, Mapping) or "embedding" not in item:
            raise WireError(f"data[{position}] has no embedding")
        index = item.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool) or index in by_index:
            raise WireError(f"data[{position}] has a bad or repeated index {index!r}")
        embedding = item["embedding"]
        if isinstance(embedding, str):
            try:
                embedding = np.frombuffer(base64.b64decode(embedding), dtype="<f4").tolist()
            except (binascii.Error, ValueError) as exc:
                raise WireError(f"data[{position}] is not base64 float32: {exc}") from exc
        if not isinstance(embedding, list):
            raise WireError(f"data[{position}].embedding is {type(embedding).__name__}")
        by_index[index] = embedding
    if sorted(by_index) != list(range(len(by_index))):
        raise WireError(f"indices {sorted(by_index)} are not 0..{len(by_index) - 1}")
    return [by_index[i] for i in range(len(by_index))]


class OpenAIEmbedder(RemoteEmbedder):
    """The ``Embedder`` port over ``POST {base_url}/embeddings`` (OpenAI's format).

    Args:
        base_url: ends in ``/v1`` (``https://api.openai.com/v1``).
        model: the provider's model name.
        dimension: ``VECTOR_SIZE``.
        send_dimensions: send ``dimensions=dimension`` (OpenAI's text-embedding-3-*).
        name: the embedding space's name in the index (``openai:<model>``).
    """

    path = "/embeddings"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimension: int,
        api_key: str | None = None,
        send_dimensions: bool = False,
        name: str | None = None,
        max_tokens: int = OPENAI_MAX_TOKENS,
        batch_size: int = 8,
        timeout: float = 30.0,
        provider: str = "openai",
        key_hint: str = "OPENAI_API_KEY",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        http = ProviderHTTP(
            provider=provider,
            base_url=base_url,
            headers=bearer(api_key),
            secret=api_key,
            timeout=timeout,
            key_hint=key_hint,
            model_hint="EMBEDDING_MODEL and EMBEDDING_BASE_URL",
            url_hint="EMBEDDING_BASE_URL",
            timeout_hint="RAGD_EMBEDDING_TIMEOUT_SECONDS",
            transport=transport,
        )
        super().__init__(
            http=http,
            name=name or f"{provider}:{model}",
            model=model,
            dimension=dimension,
            max_tokens=max_tokens,
            batch_size=batch_size,
        )
        self._send_dimensions = send_dimensions

    def _body(self, texts: list[str], kind: Kind) -> dict[str, Any]:  # noqa: ARG002
        """OpenAI's format embeds queries and documents alike; Jina's does not."""
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._send_dimensions:
            body["dimensions"] = self.spec.dimension
        return body

    def _request(self, texts: list[str], kind: Kind) -> list[Any]:
        return parse_embeddings(self._http.post_json(self.path, self._body(texts, kind)))


def build(embedding: EmbeddingSettings, providers: ProviderSettings, model: str) -> OpenAIEmbedder:
    """``openai:<model>``: OpenAI's API (or ``EMBEDDING_BASE_URL``), keyed by
    ``EMBEDDING_API_KEY`` or the account's ``OPENAI_API_KEY``.

    Raises:
        ConfigError: OpenAI without ``OPENAI_API_KEY`` (or ``EMBEDDING_API_KEY``), or a
            ``VECTOR_SIZE`` that an OpenAI model cannot produce.
    """
    dimension = embedding.vector_size
    base_url = embedding.base_url or OPENAI_BASE_URL
    api_key = secret(embedding.api_key) or secret(providers.openai_api_key)
    if not api_key and base_url.rstrip("/") == OPENAI_BASE_URL:
        raise ConfigError(f"EMBEDDING_MODEL=openai:{model} needs OPENAI_API_KEY")
    full = SHORTENABLE.get(model) or FIXED.get(model)
    if model in FIXED and dimension != FIXED[model]:
        raise ConfigError(f"VECTOR_SIZE={dimension} but {model} produces {full}-d vectors")
    if full is not None and dimension > full:
        raise ConfigError(f"VECTOR_SIZE={dimension} but {model} produces at most {full}")
    return OpenAIEmbedder(
        base_url=base_url,
        api_key=api_key,
        send_dimensions=model in SHORTENABLE,
        max_tokens=embedding.max_tokens or OPENAI_MAX_TOKENS,
        **_common(embedding, model),
    )


def build_compatible(
    embedding: EmbeddingSettings,
    providers: ProviderSettings,  # noqa: ARG001 - a remote embedder's signature
    model: str,
) -> OpenAIEmbedder:
    """``openai-compatible:<model>``: a server of one's own at ``EMBEDDING_BASE_URL``.
    Its key is ``EMBEDDING_API_KEY`` only: OpenAI's account key is never sent elsewhere.

    Raises:
        ConfigError: no ``EMBEDDING_BASE_URL``.
    """
    if not embedding.base_url:
        raise ConfigError(
            "EMBEDDING_MODEL=openai-compatible:... needs EMBEDDING_BASE_URL, e.g. "
            "http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (TEI)"
        )
    return OpenAIEmbedder(
        base_url=embedding.base_url,
        api_key=secret(embedding.api_key),
        max_tokens=embedding.max_tokens or COMPATIBLE_MAX_TOKENS,
        provider="openai-compatible",
        key_hint="EMBEDDING_API_KEY",
        **_common(embedding, model),
    )


def _common(embedding: EmbeddingSettings, model: str) -> dict[str, Any]:
    """What OpenAI's and a compatible server's embedder are both built with."""
    return {
        "model": model,
        "dimension": embedding.vector_size,
        "name": embedding.model,
        "batch_size": embedding.batch_size,
        "timeout": embedding.timeout_seconds,
    }
