"""A model-free embedder: signed feature hashing of word unigrams and bigrams.

It needs no weights at all, so it is the fallback where no model package can be installed
and the fast embedder for pipeline tests that are about plumbing, not semantics. It is a
lexical embedder: it finds shared words, not paraphrases.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ragd.domain.models import EmbeddingSpec, Vector

if TYPE_CHECKING:
    from ragd.config import EmbeddingSettings

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(
    r"\w+|[^\w\s]", re.UNICODE
)  # words and single punctuation marks, like BERT's pre-tokenizer


class RegexTokenizer:
    """Word and punctuation tokens with their character spans."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def count(self, text: str) -> int:
        return sum(1 for _ in _TOKEN.finditer(text))


class HashingEmbedder:
    def __init__(self, dimension: int = 384) -> None:
        if dimension < 8:
            raise ValueError("hashing embedder needs at least 8 dimensions")
        self._spec = EmbeddingSpec(f"hashing-{dimension}", dimension)
        self._tokenizer = RegexTokenizer()

    @property
    def spec(self) -> EmbeddingSpec:
        return self._spec

    @property
    def max_tokens(self) -> int:
        return 512

    @property
    def tokenizer(self) -> RegexTokenizer:
        return self._tokenizer

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        return h % self._spec.dimension, (1.0 if (h >> 63) & 1 else -1.0)

    def _one(self, text: str) -> Vector:
        v = np.zeros(self._spec.dimension, dtype=np.float32)
        words = [w.lower() for w in _WORD.findall(text)]
        for feature in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
            i, sign = self._bucket(feature)
            v[i] += sign
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0  # empty text: a fixed unit vector keeps the contract (unit norm)
            return v
        return v / norm

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self._spec.dimension), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])

    def embed_query(self, text: str) -> Vector:
        return self._one(text)


def build(embedding: EmbeddingSettings) -> HashingEmbedder:
    """``EMBEDDING_MODEL=hashing-<dim>`` (a bare ``hashing-`` takes ``VECTOR_SIZE``)."""
    return HashingEmbedder(
        dimension=int(embedding.model.removeprefix("hashing-") or embedding.vector_size)
    )
