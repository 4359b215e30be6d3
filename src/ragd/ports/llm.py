"""LLM port: a prompt in, text out, whole or streamed.

The extractive answerer has no model at all, so a request carries the question and the
numbered passages next to the chat messages: model adapters read ``messages``, the
extractive adapter reads ``question`` and ``passages``. Either way the answer cites
passages as ``[n]`` (1-based) and the citation checker, not the adapter, decides which
citations stand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from ragd.domain.models import Usage as Usage  # a domain value; adapters import it here too

if TYPE_CHECKING:
    from ragd.ports.embedder import Embedder

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    messages: Sequence[ChatMessage]
    question: str
    passages: Sequence[str]
    """Passage ``i`` is cited as ``[i + 1]``."""
    max_tokens: int = 512
    temperature: float = 0.0
    stop: Sequence[str] = ()
    json_output: bool = False
    """Ask for a JSON object (OpenAI-compatible ``response_format``, Ollama ``format``;
    Anthropic has no such switch and reads the prompt's instruction alone)."""


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"


class LLM(Protocol):
    """Adapters translate provider failures into ``BackendUnavailable`` (retryable: 429,
    5xx, timeouts, connection errors) or ``ConfigError`` (bad key, unknown model), and
    never log prompts or keys. Loading a local model is lazy (first call)."""

    @property
    def model(self) -> str:
        """The model's name as reported to clients (``/v1/models``, usage rows)."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens of prompt plus answer the model accepts; the prompt builder fits to it."""
        ...

    def count_tokens(self, text: str) -> int:
        """The model's own count where it has a tokenizer, an estimate otherwise."""
        ...

    def complete(self, request: GenerationRequest) -> Completion: ...

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        """Text deltas as they are generated, then exactly one ``Completion`` holding the
        whole text and its usage. Closing the iterator early stops generation."""
        ...


@runtime_checkable
class UsesEmbedder(Protocol):
    """An LLM that reads with the deployment's embedding model (the extractive answerer
    scores sentences by meaning with it); the container hands it the embedder it built."""

    def use_embedder(self, embedder: Embedder) -> None: ...
