"""The hosted providers' accounts: each vendor's API key, and the Ollama server's URL.

These are the settings that belong to a vendor rather than to one subsystem: the same
``OPENAI_API_KEY`` signs OpenAI's embeddings and its chat completions, ``JINA_API_KEY``
Jina's embeddings and its reranker, and ``OLLAMA_URL`` is the one Ollama server that both
the Ollama embedder and the Ollama LLM talk to. Giving them a section of their own keeps
every flat field in exactly one section while two subsystems read it: a builder takes its
subsystem's section (``EmbeddingSettings``, ``LLMSettings``, ``RerankSettings``) and,
when it calls a hosted provider, this one beside it. Every vendor key lives here, even
the ones a single subsystem reads today (``ANTHROPIC_API_KEY``, ``COHERE_API_KEY``), so
there is one place to look for the credentials and none moves when a second subsystem
starts using it. What only one subsystem reads about a vendor (``ANTHROPIC_BASE_URL``,
``ANTHROPIC_MODEL``, ``OLLAMA_MODEL``) stays in that subsystem's section, as do the
per-subsystem overrides (``EMBEDDING_API_KEY``, ``RERANKER_API_KEY``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from ragd.config.section import Section, env


class ProviderSettings(Section):
    """``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``JINA_API_KEY``, ``COHERE_API_KEY`` and
    ``OLLAMA_URL``: what the hosted embedders, LLMs and rerankers share."""

    openai_api_key: SecretStr | None
    anthropic_api_key: SecretStr | None
    jina_api_key: SecretStr | None
    cohere_api_key: SecretStr | None
    ollama_url: str
    llm_api_key: SecretStr | None


class ProviderFields(BaseModel):
    """The environment variables of ``ProviderSettings``."""

    openai_api_key: SecretStr | None = Field(None, validation_alias=env("OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=env("ANTHROPIC_API_KEY"))
    jina_api_key: SecretStr | None = Field(None, validation_alias=env("JINA_API_KEY"))
    cohere_api_key: SecretStr | None = Field(
        None, validation_alias=env("COHERE_API_KEY", "CO_API_KEY")
    )
    ollama_url: str = Field("http://127.0.0.1:11434", validation_alias=env("OLLAMA_URL"))
    llm_api_key: SecretStr | None = Field(None, validation_alias=env("LLM_API_KEY"))
    """A guide's one key for "the LLM provider": read as the key of ``LLM_PROVIDER``'s
    vendor (``OPENAI_API_KEY`` or ``ANTHROPIC_API_KEY``) by ``ragd.config.compat``."""

    @property
    def providers(self) -> ProviderSettings:
        return ProviderSettings.of(self)
