"""Jina AI embeddings (``EMBEDDING_MODEL=jina:jina-embeddings-v3``): OpenAI's wire format
plus Jina's ``task`` and ``dimensions``.

Jina's v3 and later models are asymmetric: documents are embedded with
``task=retrieval.passage`` and questions with ``task=retrieval.query`` (each task has its
own LoRA adapter), so :meth:`embed_documents` and :meth:`embed_query` send different
tasks and a text's query vector is not its document vector. ``dimensions`` shortens the
vector (Matryoshka, 32 to the model's full size). The v2 models take neither parameter.
Jina is asked to truncate (``truncate: true``) as well as the cut made here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.embedder.openai import OpenAIEmbedder
from ragd.adapters.embedder.remote import Kind
from ragd.adapters.http.client import secret
from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import EmbeddingSettings, ProviderSettings

JINA_BASE_URL = "https://api.jina.ai/v1"
JINA_MAX_TOKENS = 8192
TASKS: dict[Kind, str] = {"document": "retrieval.passage", "query": "retrieval.query"}
FULL_DIMENSION = {
    "jina-embeddings-v3": 1024,
    "jina-embeddings-v4": 2048,
    "jina-clip-v2": 1024,
    "jina-embeddings-v2-base-en": 768,
    "jina-embeddings-v2-small-en": 512,
}
MIN_DIMENSION = 32


def takes_task(model: str) -> bool:
    """Whether ``model`` has retrieval tasks and Matryoshka dimensions (v3 and later)."""
    return not model.startswith(("jina-embeddings-v2", "jina-clip-v1"))


class JinaEmbedder(OpenAIEmbedder):
    """The ``Embedder`` port over Jina's ``POST /v1/embeddings`` with retrieval tasks."""

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        api_key: str | None = None,
        base_url: str = JINA_BASE_URL,
        name: str | None = None,
        max_tokens: int = JINA_MAX_TOKENS,
        batch_size: int = 8,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            dimension=dimension,
            api_key=api_key,
            send_dimensions=takes_task(model),
            name=name or f"jina:{model}",
            max_tokens=max_tokens,
            batch_size=batch_size,
            timeout=timeout,
            provider="jina",
            key_hint="JINA_API_KEY",
            transport=transport,
        )

    def _body(self, texts: list[str], kind: Kind) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": texts,
            "embedding_type": "float",
            "truncate": True,
        }
        if takes_task(self.model):
            body["task"] = TASKS[kind]
            body["dimensions"] = self.spec.dimension
        return body


def build(embedding: EmbeddingSettings, providers: ProviderSettings, model: str) -> JinaEmbedder:
    """``jina:<model>``: Jina's API (or ``EMBEDDING_BASE_URL``), keyed by
    ``EMBEDDING_API_KEY`` or the account's ``JINA_API_KEY`` (shared with Jina's reranker).

    Raises:
        ConfigError: no ``JINA_API_KEY`` for Jina's own URL, or a ``VECTOR_SIZE`` the
            model cannot produce.
    """
    base_url = embedding.base_url or JINA_BASE_URL
    api_key = secret(embedding.api_key) or secret(providers.jina_api_key)
    if not api_key and base_url.rstrip("/") == JINA_BASE_URL:
        raise ConfigError(f"EMBEDDING_MODEL=jina:{model} needs JINA_API_KEY")
    dimension = embedding.vector_size
    full = FULL_DIMENSION.get(model)
    if full is not None:
        if not takes_task(model) and dimension != full:
            raise ConfigError(f"VECTOR_SIZE={dimension} but {model} produces {full}-d vectors")
        if not MIN_DIMENSION <= dimension <= full:
            raise ConfigError(
                f"VECTOR_SIZE={dimension} but {model} produces {MIN_DIMENSION} to {full} dims"
            )
    return JinaEmbedder(
        model=model,
        dimension=dimension,
        api_key=api_key,
        base_url=base_url,
        name=embedding.model,
        max_tokens=embedding.max_tokens or JINA_MAX_TOKENS,
        batch_size=embedding.batch_size,
        timeout=embedding.timeout_seconds,
    )
