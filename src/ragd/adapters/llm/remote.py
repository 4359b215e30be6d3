"""What the LLM adapters behind an HTTP API share (OpenAI-compatible, Anthropic, Ollama):
the context window, token estimates where the provider's tokenizer is not local, and
the log line of a finished call (counts and timing; never the prompt)."""

from __future__ import annotations

import logging
import time

from ragd.adapters.http.base import RemoteAdapter
from ragd.adapters.http.client import ProviderHTTP
from ragd.adapters.llm.estimate import estimate_tokens
from ragd.errors import ConfigError
from ragd.ports.llm import Completion, GenerationRequest, Usage

logger = logging.getLogger(__name__)


class RemoteLLM(RemoteAdapter):
    """Base of the remote ``LLM`` adapters. Thread-safe: one pooled client serves
    concurrent calls.

    Raises:
        ConfigError: ``context_window`` is not positive.
    """

    def __init__(self, *, http: ProviderHTTP, model: str, context_window: int) -> None:
        if context_window < 1:
            raise ConfigError(f"LLM_CONTEXT_WINDOW must be positive, got {context_window}")
        super().__init__(http=http, model=model)
        self._context_window = context_window

    @property
    def context_window(self) -> int:
        return self._context_window

    def count_tokens(self, text: str) -> int:
        """An estimate (see :mod:`ragd.adapters.llm.estimate`): the provider's tokenizer
        is not available locally."""
        return estimate_tokens(text)

    def _estimated_usage(self, request: GenerationRequest, text: str) -> Usage:
        """Usage for an answer that came without counts (4 tokens a message of template)."""
        prompt = sum(estimate_tokens(m.content) + 4 for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text))

    def _log_done(self, completion: Completion, started: float, *, streamed: bool) -> None:
        logger.debug(
            "LLM call done: provider=%s model=%s streamed=%s prompt_tokens=%d "
            "completion_tokens=%d finish=%s seconds=%.3f",
            self.provider,
            self._model,
            streamed,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            completion.finish_reason,
            time.perf_counter() - started,
        )
