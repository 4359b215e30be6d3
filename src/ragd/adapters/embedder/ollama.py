"""Ollama's native embeddings (``EMBEDDING_MODEL=ollama:nomic-embed-text``):
``POST {OLLAMA_URL}/api/embed`` with ``{"model", "input": [...], "truncate": true}`` →
``{"embeddings": [[...], ...]}``.

Some models served by Ollama expect an instruction in front of the text and embed badly
without one (nomic-embed-text: ``search_document:`` / ``search_query:``; mxbai-embed-large
and snowflake-arctic-embed: a sentence before questions). :data:`MODELS` knows them and
adds the prefixes, so, as with Jina's tasks, a text's query vector differs from its
document vector. It also knows their dimensions (checked against ``VECTOR_SIZE`` when the
embedder is built) and input lengths (for chunk sizing); other models get no prefix and
:data:`DEFAULT_MAX_TOKENS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.embedder.remote import Kind, RemoteEmbedder
from ragd.adapters.http.client import ProviderHTTP, bearer, secret
from ragd.adapters.http.errors import WireError
from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import EmbeddingSettings, ProviderSettings

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_MAX_TOKENS = 512
_SEARCH = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class OllamaModel:
    dimension: int
    max_tokens: int
    """Tokens Ollama reads with its default context (longer input is truncated)."""
    document_prefix: str = ""
    query_prefix: str = ""


MODELS = {
    "nomic-embed-text": OllamaModel(768, 2048, "search_document: ", "search_query: "),
    "mxbai-embed-large": OllamaModel(1024, 512, "", _SEARCH),
    "snowflake-arctic-embed": OllamaModel(1024, 512, "", _SEARCH),
    "all-minilm": OllamaModel(384, 256),
    "bge-m3": OllamaModel(1024, 8192),
}


def known_model(model: str) -> OllamaModel | None:
    """What :data:`MODELS` knows of ``model`` (any tag; ``snowflake-arctic-embed`` only
    untagged or ``:latest``, since its tags have different sizes)."""
    base, _, tag = model.partition(":")
    if base == "snowflake-arctic-embed" and tag not in ("", "latest", "335m", "l"):
        return None
    return MODELS.get(base)


def parse_embed(payload: object) -> list[Any]:
    """The ``embeddings`` of an ``/api/embed`` answer.

    Raises:
        WireError: not the wire format.
    """
    if not isinstance(payload, Mapping):
        raise WireError(f"expected a JSON object, got {type(payload).__name__}")
    embeddings = payload.get("embeddings")
    if not isinstance(embeddings, list) or not all(isinstance(e, list) for e in embeddings):
        raise WireError("the answer has no 'embeddings' list of vectors")
    return embeddings


class OllamaEmbedder(RemoteEmbedder):
    """The ``Embedder`` port over Ollama's ``POST /api/embed``."""

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        base_url: str = DEFAULT_OLLAMA_URL,
        api_key: str | None = None,
        name: str | None = None,
        max_tokens: int | None = None,
        batch_size: int = 8,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        known = known_model(model)
        self._prefixes: dict[Kind, str] = {
            "document": known.document_prefix if known else "",
            "query": known.query_prefix if known else "",
        }
        http = ProviderHTTP(
            provider="ollama",
            base_url=base_url,
            headers=bearer(api_key),
            secret=api_key,
            timeout=timeout,
            key_hint="EMBEDDING_API_KEY",
            model_hint=f"EMBEDDING_MODEL (is it pulled? ollama pull {model}) and OLLAMA_URL",
            url_hint="EMBEDDING_BASE_URL or OLLAMA_URL",
            timeout_hint="RAGD_EMBEDDING_TIMEOUT_SECONDS",
            transport=transport,
        )
        super().__init__(
            http=http,
            name=name or f"ollama:{model}",
            model=model,
            dimension=dimension,
            max_tokens=max_tokens or (known.max_tokens if known else DEFAULT_MAX_TOKENS),
            batch_size=batch_size,
        )

    @property
    def prefixes(self) -> Mapping[Kind, str]:
        return dict(self._prefixes)

    def _request(self, texts: list[str], kind: Kind) -> list[Any]:
        prefix = self._prefixes[kind]
        body = {
            "model": self.model,
            "input": [prefix + text for text in texts],
            "truncate": True,
        }
        return parse_embed(self._http.post_json("/api/embed", body))


def build(embedding: EmbeddingSettings, providers: ProviderSettings, model: str) -> OllamaEmbedder:
    """``ollama:<model>`` on ``EMBEDDING_BASE_URL``, else the Ollama server of
    ``OLLAMA_URL`` (the one the Ollama LLM uses too).

    Raises:
        ConfigError: a ``VECTOR_SIZE`` that a known model does not produce.
    """
    known = known_model(model)
    if known is not None and embedding.vector_size != known.dimension:
        raise ConfigError(
            f"VECTOR_SIZE={embedding.vector_size} but {model} produces {known.dimension}-d vectors"
        )
    return OllamaEmbedder(
        model=model,
        dimension=embedding.vector_size,
        base_url=embedding.base_url or providers.ollama_url,
        api_key=secret(embedding.api_key),
        name=embedding.model,
        max_tokens=embedding.max_tokens,
        batch_size=embedding.batch_size,
        timeout=embedding.timeout_seconds,
    )
