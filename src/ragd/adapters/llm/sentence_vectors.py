"""Sentence vectors for the extractive answerer, reused across questions.

Embedding the candidate sentences of the top passages was ~87 % of a ``/query`` (each
sentence is a pass of the model: ~0.3 ms a token on this CPU, ~10 ms for a sentence of
35 tokens), and the same passages come back for related questions. So vectors are kept in
a bounded LRU keyed by a 16-byte hash of the text (the text itself is not held), the
missing ones are embedded in one batched call sorted by length (so a batch pads to
similar lengths whatever the embedder does), and the cache is shared by every thread.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ragd.ports.embedder import Embedder

CAPACITY = 8192
"""Vectors kept: 8,192 × 384 float32 ≈ 12.6 MB, the sentences of ~1,000 distinct passages."""


def _key(kind: bytes, text: str) -> bytes:
    return hashlib.blake2b(kind + text.encode("utf-8", "replace"), digest_size=16).digest()


class SentenceVectors:
    """Unit vectors of sentences (``documents``) and of questions (``query``), cached.

    Thread-safe: lookups and insertions hold a lock; the model runs outside it, so two
    threads missing the same sentence may both embed it (the second insert wins, same
    vector)."""

    def __init__(self, embedder: Embedder, capacity: int = CAPACITY) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.embedder = embedder
        self.capacity = capacity
        self._lru: OrderedDict[bytes, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._lru)

    def documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Shape ``(len(texts), dim)``, rows L2-normalised, in the order of ``texts``."""
        keys = [_key(b"d\x00", t) for t in texts]
        found = self._lookup(keys)
        missing: dict[bytes, str] = {}
        for k, t, v in zip(keys, texts, found, strict=True):
            if v is None:
                missing.setdefault(k, t)
        if missing:
            todo = sorted(missing.items(), key=lambda kv: len(kv[1]))
            vectors = _unit(self.embedder.embed_documents([t for _, t in todo]))
            fresh = {k: vectors[i] for i, (k, _) in enumerate(todo)}
            self._insert(fresh)
            found = [v if v is not None else fresh[k] for k, v in zip(keys, found, strict=True)]
        if not found:
            return np.empty((0, self.embedder.spec.dimension), dtype=np.float32)
        return np.stack([v for v in found if v is not None])

    def query(self, text: str) -> npt.NDArray[np.float32]:
        """The question's unit vector (the embedder's query form, which may differ from a
        document's: some models prefix queries)."""
        key = _key(b"q\x00", text)
        (v,) = self._lookup([key])
        if v is None:
            v = _unit(np.asarray(self.embedder.embed_query(text), dtype=np.float32)[None, :])[0]
            self._insert({key: v})
        return v

    def _lookup(self, keys: list[bytes]) -> list[npt.NDArray[np.float32] | None]:
        out: list[npt.NDArray[np.float32] | None] = []
        with self._lock:
            for k in keys:
                v = self._lru.get(k)
                if v is not None:
                    self._lru.move_to_end(k)
                    self.hits += 1
                else:
                    self.misses += 1
                out.append(v)
        return out

    def _insert(self, fresh: dict[bytes, npt.NDArray[np.float32]]) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            for k, v in fresh.items():
                self._lru[k] = v
                self._lru.move_to_end(k)
            while len(self._lru) > self.capacity:
                self._lru.popitem(last=False)


def _unit(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        v = v.reshape(len(v), -1)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-12), dtype=np.float32)
