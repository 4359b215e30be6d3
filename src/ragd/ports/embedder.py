"""Embedder port: text to vectors, batched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ragd.domain.chunking import SpanTokenizer
from ragd.domain.models import EmbeddingSpec, Vector


class Tokenizer(SpanTokenizer, Protocol):
    """The embedder's own tokenizer, so chunks are sized in the tokens the model sees."""

    def count(self, text: str) -> int: ...


class Embedder(Protocol):
    """Vectors are L2-normalised float32, so cosine similarity is a dot product.

    Loads its model lazily (first call), so building one costs nothing. Raises
    ``ConfigError`` when the model cannot be loaded. An empty list gives a (0, dim) array;
    an empty string is a valid input.
    """

    @property
    def spec(self) -> EmbeddingSpec: ...

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; longer text is truncated by the model."""
        ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Shape (len(texts), dimension)."""
        ...

    def embed_query(self, text: str) -> Vector: ...
