"""The embedding model and the reranker: which one, and how to reach a remote one."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, SecretStr, field_validator

from ragd.config.compat import normalise_model_name
from ragd.config.section import Section, env


class EmbeddingSettings(Section):
    """``EMBEDDING_MODEL`` (the shipped MiniLM, ``hashing-<dim>``, or ``provider:model``)
    and what the local or remote embedder reads."""

    model: str = Field(validation_alias="embedding_model")
    batch_size: int = Field(validation_alias="embedding_batch_size")
    vector_size: int
    threads: int = Field(validation_alias="embedding_threads")
    base_url: str | None = Field(validation_alias="embedding_base_url")
    api_key: SecretStr | None = Field(validation_alias="embedding_api_key")
    max_tokens: int | None = Field(validation_alias="embedding_max_tokens")
    timeout_seconds: float = Field(validation_alias="embedding_timeout_seconds")


class RerankSettings(Section):
    """``RERANKER_MODEL`` (``jina:<model>`` | ``cohere:<model>``; empty: none)."""

    model: str = Field(validation_alias="reranker_model")
    base_url: str | None = Field(validation_alias="reranker_base_url")
    api_key: SecretStr | None = Field(validation_alias="reranker_api_key")
    timeout_seconds: float = Field(validation_alias="reranker_timeout_seconds")


class EmbeddingFields(BaseModel):
    """The environment variables of ``EmbeddingSettings``."""

    embedding_model: str = Field("all-MiniLM-L6-v2", validation_alias=env("EMBEDDING_MODEL"))
    embedding_batch_size: int = Field(8, ge=1, le=512, validation_alias=env("EMBEDDING_BATCH_SIZE"))
    vector_size: int = Field(384, ge=1, validation_alias=env("VECTOR_SIZE"))
    embedding_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=env("RAGD_EMBEDDING_THREADS"),
    )
    # Remote embedders (EMBEDDING_MODEL=provider:model, see ragd.adapters.embedder.remote)
    embedding_base_url: str | None = Field(None, validation_alias=env("EMBEDDING_BASE_URL"))
    embedding_api_key: SecretStr | None = Field(None, validation_alias=env("EMBEDDING_API_KEY"))
    embedding_max_tokens: int | None = Field(
        None, ge=16, validation_alias=env("RAGD_EMBEDDING_MAX_TOKENS")
    )
    """Input limit of a remote embedding model (default: the provider's or model's own)."""
    embedding_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=env("RAGD_EMBEDDING_TIMEOUT_SECONDS")
    )

    @field_validator("embedding_model")
    @classmethod
    def _jina_embedder_prefix(cls, v: str) -> str:
        return normalise_model_name(v, "embeddings")

    @property
    def embedding(self) -> EmbeddingSettings:
        return EmbeddingSettings.of(self)


class RerankFields(BaseModel):
    """The environment variables of ``RerankSettings``."""

    reranker_model: str = Field("", validation_alias=env("RERANKER_MODEL"))
    reranker_base_url: str | None = Field(None, validation_alias=env("RERANKER_BASE_URL"))
    reranker_api_key: SecretStr | None = Field(None, validation_alias=env("RERANKER_API_KEY"))
    reranker_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=env("RAGD_RERANKER_TIMEOUT_SECONDS")
    )

    @field_validator("reranker_model")
    @classmethod
    def _jina_reranker_prefix(cls, v: str) -> str:
        return normalise_model_name(v, "reranker")

    @property
    def rerank(self) -> RerankSettings:
        return RerankSettings.of(self)
