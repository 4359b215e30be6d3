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

Adding a provider: write the adapter module with a ``build(settings, ...)`` function and
add one line to the table of its kind below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import Settings
    from ragd.ports import LLM, Embedder
    from ragd.ports.reranker import Reranker


@dataclass(frozen=True)
class Builder:
    """Where a provider's adapter is built, and what installs its dependencies.

    Args:
        target: ``"package.module:function"``; the function takes ``settings`` first.
        extra: the ``ragd`` extra that installs the module's optional dependencies
            (``pip install 'ragd[<extra>]'``); ``None`` when they are all core ones.
        kwargs: fixed keyword arguments of the call (one function serving two names).
        section: the settings section the function takes first (``"embedding"`` passes
            ``settings.embedding``); ``None`` passes the whole ``Settings``.
    """

    target: str
    extra: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    section: str | None = None

    def settings_for(self, settings: Settings) -> object:
        """What the builder takes first: its section, or the whole settings."""
        return settings if self.section is None else getattr(settings, self.section)

    def load(self, kind: str, name: str) -> Callable[..., Any]:
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
        return cast(Callable[..., Any], getattr(module, function))


EMBEDDERS: Mapping[str, Builder] = {
    "onnx-minilm": Builder("ragd.adapters.embedder.onnx_minilm:build", section="embedding"),
    "hashing": Builder("ragd.adapters.embedder.hashing:build", section="embedding"),
    "openai": Builder("ragd.adapters.embedder.openai:build", kwargs={"compatible": False}),
    "openai-compatible": Builder(
        "ragd.adapters.embedder.openai:build", kwargs={"compatible": True}
    ),
    "jina": Builder("ragd.adapters.embedder.jina:build"),
    "ollama": Builder("ragd.adapters.embedder.ollama:build"),
}
"""Local embedders by name; remote ones by the provider of ``provider:model``."""
LOCAL_EMBEDDERS = ("onnx-minilm", "hashing")
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")

LLMS: Mapping[str, Builder] = {
    "extractive": Builder("ragd.adapters.llm.extractive:build"),
    "llamacpp": Builder("ragd.adapters.llm.llamacpp:build", extra="llamacpp", section="llm"),
    "openai": Builder("ragd.adapters.llm.openai_compatible:build"),
    "openai-compatible": Builder("ragd.adapters.llm.openai_compatible:build"),
    "anthropic": Builder("ragd.adapters.llm.anthropic:build"),
    "ollama": Builder("ragd.adapters.llm.ollama:build"),
}
"""``LLM_PROVIDER`` and the names in ``RAGD_LLM_FALLBACK``."""

RERANKERS: Mapping[str, Builder] = {
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
    remote = [p for p in EMBEDDERS if p not in LOCAL_EMBEDDERS]
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
    provider, model = embedder_provider(settings.embedding_model)
    builder = EMBEDDERS[provider]
    build = builder.load("EMBEDDING_MODEL", settings.embedding_model)
    first = builder.settings_for(settings)
    args = (first,) if model is None else (first, model)
    return cast("Embedder", build(*args, **builder.kwargs))


def build_llm(settings: Settings, provider: str) -> LLM:
    """One LLM provider's adapter, without retries or fallback (the container adds those).

    Raises:
        ConfigError: an unknown provider, a missing dependency, or settings it refuses.
    """
    builder = LLMS.get(provider)
    if builder is None:
        raise ConfigError(f"unknown LLM provider {provider!r}; known: {', '.join(LLMS)}")
    build = builder.load("LLM provider", provider)
    return cast("LLM", build(builder.settings_for(settings), **builder.kwargs))


def build_reranker(settings: Settings) -> Reranker | None:
    """The reranker ``RERANKER_MODEL`` names (``api:model``); ``None`` when it is empty
    or ``none``.

    Raises:
        ConfigError: an unknown API, a missing dependency, or settings it refuses.
    """
    name = settings.reranker_model.strip()
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
    return cast("Reranker | None", build(builder.settings_for(settings), **builder.kwargs))
