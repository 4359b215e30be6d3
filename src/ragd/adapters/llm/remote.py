"""What the LLM adapters behind an HTTP API share (OpenAI-compatible, Anthropic, Ollama):
the context window, token estimates where the provider's tokenizer is not local, and
the log line of a finished call (counts and timing; never the prompt)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ragd.adapters.http.base import RemoteAdapter
from ragd.adapters.http.client import ProviderHTTP
from ragd.adapters.http.errors import WireError
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

    def _complete(
        self,
        request: GenerationRequest,
        path: str,
        body: Mapping[str, Any],
        parse: Callable[[object], tuple[str, str, Usage | None]],
    ) -> Completion:
        """POST ``body`` to ``path`` and read a whole answer with ``parse``
        (``(text, finish_reason, usage)``; ``WireError`` makes it malformed)."""
        started = time.perf_counter()
        payload = self._http.post_json(path, body)
        try:
            text, finish, usage = parse(payload)
        except WireError as exc:
            raise self._http.malformed(exc) from exc
        return self._done(request, text, finish, usage, started, streamed=False)

    def _done(
        self,
        request: GenerationRequest,
        text: str,
        finish: str,
        usage: Usage | None,
        started: float,
        *,
        streamed: bool,
    ) -> Completion:
        """The ``Completion`` of an answer (usage estimated when the provider sent none),
        logged."""
        completion = Completion(
            text=text,
            model=self._model,
            usage=usage or self._estimated_usage(request, text),
            finish_reason=finish,
        )
        self._log_done(completion, started, streamed=streamed)
        return completion

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
