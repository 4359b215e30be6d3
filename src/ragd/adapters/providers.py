"""Which module builds each embedder, LLM and reranker, by name: the provider registry.

``services/container.py`` asks here for the adapter a setting names
(``EMBEDDING_MODEL``, ``LLM_PROVIDER`` and ``RAGD_LLM_FALLBACK``, ``RERANKER_MODEL``).
Each name maps to a ``"module:function"`` string, imported only when that provider is
chosen, so:

* an optional dependency (``xllamacpp`` for ``llamacpp``) is needed only by whoever uses
  it, and its absence is a ``ConfigError`` that says what to install
  (``pip install 'ragd[llamacpp]'``) rather than an ``ImportError`` at start-up;
* no adapter module imports another to dispatch (the remote embedders used to be chosen
  inside their own base module, an import cycle).

Each builder receives its own sections of the settings, typed, never the whole
``Settings``: a local adapter its subsystem's section (``EmbeddingSettings``,
``LLMSettings``), a remote one that section and ``ProviderSettings``, the vendors' keys and
the Ollama server's URL that several subsystems share (``OPENAI_API_KEY`` signs OpenAI's
embeddings and chat alike). What a builder receives is its table's ``Protocol`` below,
checked against every registered function by ``tests/unit/test_adapters_http.py``.

Adding a provider: write the adapter module with a ``build`` function of its table's
signature and add one line to that table.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast

from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import (
        EmbeddingSettings,
        LLMSettings,
        ProviderSettings,
        RerankSettings,
        Settings,
    )
    from ragd.ports import LLM, Embedder
    from ragd.ports.reranker import Reranker


class LocalEmbedderBuilder(Protocol):
    """An embedder that runs in-process: ``build(embedding)``."""

    def __call__(self, embedding: EmbeddingSettings, /) -> Embedder: ...


class RemoteEmbedderBuilder(Protocol):
    """An embedder behind an API: ``build(embedding, providers, model)``, ``model`` being
    the provider's own name of it (``EMBEDDING_MODEL`` after ``provider:``)."""

    def __call__(
        self, embedding: EmbeddingSettings, providers: ProviderSettings, model: str, /
    ) -> Embedder: ...


class LocalLLMBuilder(Protocol):
    """An LLM that runs in-process: ``build(llm)``."""

    def __call__(self, llm: LLMSettings, /) -> LLM: ...


class RemoteLLMBuilder(Protocol):
    """An LLM behind an API: ``build(llm, providers)``."""

    def __call__(self, llm: LLMSettings, providers: ProviderSettings, /) -> LLM: ...


class RerankerBuilder(Protocol):
    """A reranker (all of them behind an API): ``build(rerank, providers)``, ``None`` when
    ``RERANKER_MODEL`` names none."""

    def __call__(
        self, rerank: RerankSettings, providers: ProviderSettings, /
    ) -> Reranker | None: ...


B = TypeVar("B")


@dataclass(frozen=True)
class Builder(Generic[B]):
    """Where a provider's adapter is built, and what installs its dependencies; ``B`` is
    the builder's signature, one ``Protocol`` per table.

    Args:
        target: ``"package.module:function"``.
        extra: the ``ragd`` extra that installs the module's optional dependencies
            (``pip install 'ragd[<extra>]'``); ``None`` when they are all core ones.
    """

    target: str
    extra: str | None = None

    def load(self, kind: str, name: str) -> B:
        """The builder function, its module imported now.

        Raises:
            ConfigError: the module, or a package it needs, cannot be imported.
        """
        module_name, _, function = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if (exc.name or "").partition(".")[0] == "ragd":
                raise  # ragd's own code is broken: not a missing install
            missing = exc.name or str(exc)
            install = f"pip install 'ragd[{self.extra}]'" if self.extra else "pip install ragd"
            raise ConfigError(
                f"{kind} {name!r} needs {missing}, which is not installed: {install}"
            ) from exc
        return cast("B", getattr(module, function))


LOCAL_EMBEDDERS: Mapping[str, Builder[LocalEmbedderBuilder]] = {
    "onnx-minilm": Builder("ragd.adapters.embedder.onnx_minilm:build"),
    "hashing": Builder("ragd.adapters.embedder.hashing:build"),
}
"""Embedders that need no server, by name (see ``embedder_provider``)."""
REMOTE_EMBEDDERS: Mapping[str, Builder[RemoteEmbedderBuilder]] = {
    "openai": Builder("ragd.adapters.embedder.openai:build"),
    "openai-compatible": Builder("ragd.adapters.embedder.openai:build_compatible"),
    "jina": Builder("ragd.adapters.embedder.jina:build"),
    "ollama": Builder("ragd.adapters.embedder.ollama:build"),
}
"""Remote embedders by the provider of ``EMBEDDING_MODEL=provider:model``."""
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")

LOCAL_LLMS: Mapping[str, Builder[LocalLLMBuilder]] = {
    "extractive": Builder("ragd.adapters.llm.extractive:build"),
    "llamacpp": Builder("ragd.adapters.llm.llamacpp:build", extra="llamacpp"),
}
REMOTE_LLMS: Mapping[str, Builder[RemoteLLMBuilder]] = {
    "openai": Builder("ragd.adapters.llm.openai_compatible:build"),
    "openai-compatible": Builder("ragd.adapters.llm.openai_compatible:build_compatible"),
    "anthropic": Builder("ragd.adapters.llm.anthropic:build"),
    "ollama": Builder("ragd.adapters.llm.ollama:build"),
}
"""``LLM_PROVIDER`` and the names in ``RAGD_LLM_FALLBACK``: in-process, or behind an API."""

RERANKERS: Mapping[str, Builder[RerankerBuilder]] = {
    "jina": Builder("ragd.adapters.reranker.remote:build"),
    "cohere": Builder("ragd.adapters.reranker.remote:build"),
}
"""The API prefix of ``RERANKER_MODEL`` (``api:model``)."""


def embedder_provider(name: str) -> tuple[str, str | None]:
    """``(provider, model)`` for ``EMBEDDING_MODEL``: a local embedder's name and
    ``None``, or a remote provider and its own name of the model (split at the first
    colon, so Ollama tags stay: ``ollama:nomic-embed-text:v1.5``).

    Raises:
        ConfigError: no embedder of that name.
    """
    if name in MINILM_NAMES:
        return "onnx-minilm", None
    if name.startswith("hashing-"):
        return "hashing", None
    provider, sep, model = name.partition(":")
    if not sep:
        raise ConfigError(
            f"unknown EMBEDDING_MODEL {name!r}; available offline: all-MiniLM-L6-v2, "
            "hashing-<dim>; remote: openai:<model>, openai-compatible:<model>, "
            "jina:<model>, ollama:<model>"
        )
    remote = list(REMOTE_EMBEDDERS)
    if provider not in remote:
        raise ConfigError(
            f"unknown EMBEDDING_MODEL {name!r}; remote models are written provider:model "
            f"with provider one of {', '.join(remote)} (e.g. openai:text-embedding-3-small)"
        )
    if not model:
        raise ConfigError(f"EMBEDDING_MODEL={name!r} names no model after {provider}:")
    return provider, model


def build_embedder(settings: Settings) -> Embedder:
    """The embedder ``EMBEDDING_MODEL`` names.

    Raises:
        ConfigError: an unknown name, a missing dependency, or settings the adapter
            refuses (a missing key, a ``VECTOR_SIZE`` the model cannot produce).
    """
    name = settings.embedding.model
    provider, model = embedder_provider(name)
    if model is None:
        return LOCAL_EMBEDDERS[provider].load("EMBEDDING_MODEL", name)(settings.embedding)
    build = REMOTE_EMBEDDERS[provider].load("EMBEDDING_MODEL", name)
    return build(settings.embedding, settings.providers, model)


def build_llm(settings: Settings, provider: str) -> LLM:
    """One LLM provider's adapter, without retries or fallback (the container adds those).

    Raises:
        ConfigError: an unknown provider, a missing dependency, or settings it refuses.
    """
    if provider in LOCAL_LLMS:
        return LOCAL_LLMS[provider].load("LLM provider", provider)(settings.llm)
    if provider in REMOTE_LLMS:
        build = REMOTE_LLMS[provider].load("LLM provider", provider)
        return build(settings.llm, settings.providers)
    known = ", ".join([*LOCAL_LLMS, *REMOTE_LLMS])
    raise ConfigError(f"unknown LLM provider {provider!r}; known: {known}")


def build_reranker(settings: Settings) -> Reranker | None:
    """The reranker ``RERANKER_MODEL`` names (``api:model``); ``None`` when it is empty
    or ``none``.

    Raises:
        ConfigError: an unknown API, a missing dependency, or settings it refuses.
    """
    name = settings.rerank.model.strip()
    if not name or name.lower() == "none":
        return None
    api, sep, _ = name.partition(":")
    builder = RERANKERS.get(api) if sep else None
    if builder is None:
        raise ConfigError(
            f"unknown RERANKER_MODEL {name!r}; write api:model with api one of "
            f"{', '.join(RERANKERS)} (e.g. jina:jina-reranker-v2-base-multilingual, "
            "cohere:rerank-v3.5)"
        )
    build = builder.load("RERANKER_MODEL", name)
    return build(settings.rerank, settings.providers)
