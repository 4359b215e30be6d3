"""What every embedder behind an HTTP API shares: batching, truncation, the empty-text
rule, the checks on what comes back, L2 normalisation, and an approximate tokenizer.

``EMBEDDING_MODEL`` names a remote model as ``<provider>:<model>`` (the names are read
by the provider registry, :mod:`ragd.adapters.providers`):

========================  =================================================================
``openai:<model>``        OpenAI (``OPENAI_API_KEY``); ``dimensions`` sent for the
                          ``text-embedding-3-*`` models
``openai-compatible:<m>`` any server with ``POST /v1/embeddings`` (vLLM, TEI, LM Studio,
                          Ollama's ``/v1``, LiteLLM): ``EMBEDDING_BASE_URL`` (ending in
                          ``/v1``), key ``EMBEDDING_API_KEY`` if it wants one
``jina:<model>``          Jina AI (``JINA_API_KEY``); ``task`` and ``dimensions`` for v3+
``ollama:<model>``        Ollama's native ``POST /api/embed`` at ``OLLAMA_URL``
========================  =================================================================

The text after the first colon is the provider's model name, so Ollama tags keep theirs
(``ollama:nomic-embed-text:v1.5``). ``VECTOR_SIZE`` is the dimension: asked for where the
API takes ``dimensions``, checked against every answer everywhere (a mismatch is a
``ConfigError``: the index was sized for another space). ``EMBEDDING_BASE_URL`` overrides
any provider's URL (a proxy, a gateway, a test server).

The tokenizer is an approximation (:class:`EstimateTokenizer`): the providers' own
tokenizers are not available locally (and Jina's and Ollama's models each have their
own). It is the estimate of :mod:`ragd.adapters.llm.estimate`, which leans high, so chunks
sized with it fit the model; texts longer than ``max_tokens`` by that count are cut
before they are sent (OpenAI refuses them; Jina and Ollama are also asked to truncate).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ragd.adapters.http.base import RemoteAdapter
from ragd.adapters.http.client import ProviderHTTP
from ragd.adapters.http.errors import WireError
from ragd.domain.models import EmbeddingSpec, Vector
from ragd.errors import ConfigError

logger = logging.getLogger(__name__)

Kind = Literal["document", "query"]

# Same rule as ragd.adapters.llm.estimate.estimate_tokens, with spans: a run of ASCII
# letters is one token per 4 letters, a run of up to 3 digits one token, any other
# visible character one token, whitespace none.
_PIECE = re.compile(r"[A-Za-z]+|[0-9]{1,3}|\S")


class EstimateTokenizer:
    """The ``Tokenizer`` port without a vocabulary: about 1.3-1.5 tokens per English word.

    ``count(text)`` equals :func:`ragd.adapters.llm.estimate.estimate_tokens` and
    ``len(token_spans(text))``. A long word is split into spans of four letters, the way
    a BPE vocabulary splits a rare word, so a chunk boundary may fall inside a word only
    where a real tokenizer could put one too.
    """

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for match in _PIECE.finditer(text):
            start, end = match.span()
            if end - start > 4 and text[start].isascii() and text[start].isalpha():
                spans.extend((s, min(s + 4, end)) for s in range(start, end, 4))
            else:
                spans.append((start, end))
        return spans

    def count(self, text: str) -> int:
        total = 0
        for match in _PIECE.finditer(text):
            piece = match.group()
            total += (len(piece) + 3) // 4 if piece.isascii() and piece.isalpha() else 1
        return total

    def truncate(self, text: str, max_tokens: int) -> str:
        """``text`` cut after its first ``max_tokens`` tokens (unchanged if shorter)."""
        spans = self.token_spans(text)
        if len(spans) <= max_tokens:
            return text
        return text[: spans[max_tokens - 1][1]] if max_tokens > 0 else ""


class RemoteEmbedder(RemoteAdapter, ABC):
    """The ``Embedder`` port over a provider's HTTP API; subclasses speak the wire format.

    Thread-safe (one pooled client). Nothing is sent until the first embed call.

    * Texts go in batches of ``batch_size`` (``EMBEDDING_BATCH_SIZE``), in the caller's
      order; rows come back in the same order.
    * An empty or blank text is not sent (OpenAI refuses empty input): it gets a fixed
      unit vector (the first axis), as the hashing embedder does.
    * Every answer is checked: one vector per text, ``dimension`` finite numbers each;
      vectors are L2-normalised here whatever the provider promises.

    Errors: ``ConfigError`` (key, model, a dimension other than ``VECTOR_SIZE``),
    ``BackendUnavailable`` (429, 5xx, timeouts, malformed answers), ``InvalidRequest``
    (other 4xx).
    """

    def __init__(
        self,
        *,
        http: ProviderHTTP,
        name: str,
        model: str,
        dimension: int,
        max_tokens: int,
        batch_size: int = 8,
    ) -> None:
        if not model:
            raise ConfigError(f"EMBEDDING_MODEL={name!r} names no model after the provider")
        if dimension < 1:
            raise ConfigError(f"VECTOR_SIZE must be positive, got {dimension}")
        if max_tokens < 1:
            raise ConfigError(f"embedding max tokens must be positive, got {max_tokens}")
        if batch_size < 1:
            raise ConfigError(f"embedding batch size must be at least 1, got {batch_size}")
        super().__init__(http=http, model=model)
        self._spec = EmbeddingSpec(name, dimension)
        self._max_tokens = max_tokens
        self._batch_size = batch_size
        self._tokenizer = EstimateTokenizer()

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding space: ``EMBEDDING_MODEL`` as configured (``provider:model``)
        and the dimension; :attr:`model` is the provider's own name of the model."""
        return self._spec

    @property
    def max_tokens(self) -> int:
        """Longest input sent, counted by :attr:`tokenizer`; longer text is cut first."""
        return self._max_tokens

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def tokenizer(self) -> EstimateTokenizer:
        return self._tokenizer

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._embed(texts, "document")

    def embed_query(self, text: str) -> Vector:
        return self._embed([text], "query")[0]

    # -- subclasses --------------------------------------------------------------------

    @abstractmethod
    def _request(self, texts: list[str], kind: Kind) -> list[Any]:
        """One call for ``texts`` (non-empty, already truncated): one raw vector each, in
        order. Raises ``WireError`` for an answer that does not follow the wire format."""

    # -- internals ---------------------------------------------------------------------

    def _embed(self, texts: Sequence[str], kind: Kind) -> npt.NDArray[np.float32]:
        dimension = self._spec.dimension
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        out[[i for i, text in enumerate(texts) if not text.strip()], 0] = 1.0
        for first in range(0, len(todo), self._batch_size):
            rows = todo[first : first + self._batch_size]
            batch = [self._tokenizer.truncate(texts[i], self._max_tokens) for i in rows]
            try:
                raw = self._request(batch, kind)
            except WireError as exc:
                raise self._http.malformed(exc) from exc
            out[rows] = self._check(raw, len(batch))
        return out

    def _check(self, raw: list[Any], expected: int) -> npt.NDArray[np.float32]:
        if len(raw) != expected:
            raise self._http.malformed(f"{len(raw)} vectors for {expected} texts")
        try:
            vectors = np.asarray(raw, dtype=np.float32)
        except (ValueError, TypeError) as exc:  # ragged rows, strings
            raise self._http.malformed(f"vectors are not numbers: {exc}") from exc
        if vectors.ndim != 2:
            raise self._http.malformed(f"vectors have shape {vectors.shape}")
        if vectors.shape[1] != self._spec.dimension:
            raise ConfigError(
                f"{self._http.provider} model {self._model!r} returned "
                f"{vectors.shape[1]}-d vectors but VECTOR_SIZE={self._spec.dimension}"
            )
        if not np.isfinite(vectors).all():
            raise self._http.malformed("vectors hold NaN or infinity")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise self._http.malformed("a zero vector")
        return (vectors / norms).astype(np.float32, copy=False)
