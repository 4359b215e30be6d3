"""Answering: the LLM provider chain and how answers are grounded and priced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ragd.config.section import Section, env

LLMProvider = Literal[
    "extractive", "llamacpp", "openai", "openai-compatible", "anthropic", "ollama"
]


class LLMSettings(Section):
    """``LLM_PROVIDER``, its fallbacks and every provider's model and limits (their keys,
    and the Ollama server's URL, are ``ProviderSettings``')."""

    provider: LLMProvider = Field(validation_alias="llm_provider")
    model: str | None = Field(validation_alias="llm_model")
    model_path: Path | None = Field(validation_alias="llm_model_path")
    base_url: str | None = Field(validation_alias="llm_base_url")
    anthropic_base_url: str | None
    anthropic_model: str | None
    ollama_model: str | None
    context_window: int | None = Field(validation_alias="llm_context_window")
    max_tokens: int = Field(validation_alias="llm_max_tokens")
    temperature: float = Field(validation_alias="llm_temperature")
    timeout_seconds: float = Field(validation_alias="llm_timeout_seconds")
    threads: int = Field(validation_alias="llm_threads")
    threads_batch: int = Field(validation_alias="llm_threads_batch")
    fallback: str = Field(validation_alias="llm_fallback")
    attempts: int = Field(validation_alias="llm_attempts")
    breaker_failures: int
    breaker_reset_seconds: float
    prices: str = Field(validation_alias="llm_prices")

    @property
    def chain(self) -> list[str]:
        """The providers tried in order: ``LLM_PROVIDER``, then ``RAGD_LLM_FALLBACK``'s."""
        fallbacks = (p.strip() for p in self.fallback.split(","))
        return [self.provider] + [p for p in fallbacks if p and p != "none" and p != self.provider]


class AnswerSettings(Section):
    """How many passages an answer reads, and how much support a citation needs."""

    passages: int | None = Field(validation_alias="answer_passages")
    citation_min_support: float


class LLMFields(BaseModel):
    """The environment variables of ``LLMSettings``."""

    llm_provider: LLMProvider = Field("extractive", validation_alias=env("LLM_PROVIDER"))
    llm_model: str | None = Field(None, validation_alias=env("LLM_MODEL"))
    llm_model_path: Path | None = Field(None, validation_alias=env("LLM_MODEL_PATH"))
    llm_base_url: str | None = Field(None, validation_alias=env("LLM_BASE_URL", "OPENAI_BASE_URL"))
    anthropic_base_url: str | None = Field(None, validation_alias=env("ANTHROPIC_BASE_URL"))
    anthropic_model: str | None = Field(None, validation_alias=env("ANTHROPIC_MODEL"))
    """Anthropic's model when it is a fallback (as the primary, LLM_MODEL also works)."""
    ollama_model: str | None = Field(None, validation_alias=env("OLLAMA_MODEL"))
    llm_context_window: int | None = Field(None, ge=256, validation_alias=env("LLM_CONTEXT_WINDOW"))
    llm_max_tokens: int = Field(384, ge=1, le=32768, validation_alias=env("LLM_MAX_TOKENS"))
    llm_temperature: float = Field(0.0, ge=0, le=2, validation_alias=env("LLM_TEMPERATURE"))
    llm_timeout_seconds: float = Field(60.0, gt=0, validation_alias=env("LLM_TIMEOUT_SECONDS"))
    llm_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, validation_alias=env("LLM_N_THREADS")
    )
    llm_threads_batch: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=env("LLM_N_THREADS_BATCH"),
    )
    llm_fallback: str = Field("extractive", validation_alias=env("RAGD_LLM_FALLBACK"))
    """Comma-separated providers tried after LLM_PROVIDER fails ("none": no fallback)."""
    llm_attempts: int = Field(3, ge=1, le=10, validation_alias=env("RAGD_LLM_ATTEMPTS"))
    breaker_failures: int = Field(5, ge=1, validation_alias=env("RAGD_BREAKER_FAILURES"))
    breaker_reset_seconds: float = Field(
        30.0, gt=0, validation_alias=env("RAGD_BREAKER_RESET_SECONDS")
    )
    llm_prices: str = Field("", validation_alias=env("RAGD_LLM_PRICES"))
    """JSON price table, dollars per million tokens: {"model": {"input": x, "output": y}}."""

    @property
    def llm(self) -> LLMSettings:
        return LLMSettings.of(self)


class AnswerFields(BaseModel):
    """The environment variables of ``AnswerSettings``."""

    answer_passages: int | None = Field(
        None, ge=1, le=50, validation_alias=env("RAGD_ANSWER_PASSAGES")
    )
    citation_min_support: float = Field(
        0.5, ge=0, le=1, validation_alias=env("RAGD_CITATION_MIN_SUPPORT")
    )

    @property
    def answer(self) -> AnswerSettings:
        return AnswerSettings.of(self)
