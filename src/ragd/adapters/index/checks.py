"""The checks every Index adapter applies to what it stores and to what it is asked.

A vector of the wrong shape, with NaN/infinity or all zeros is stored or ranked wrongly by
every backend (cosine similarity is undefined for a zero vector), and silently so: better a
clear 4xx at the boundary than a corrupt index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ragd.domain.models import EmbeddingSpec, IndexEntry
from ragd.errors import InvalidRequest
from ragd.ports.index import IndexQuery

MAX_K = 4096
"""Largest ``k`` (and fusion candidate count) a search may ask for."""


def checked_query(query: IndexQuery, spec: EmbeddingSpec) -> np.ndarray | None:
    """The query's vector as float32 (None for a sparse search, which needs none), once
    ``k`` and the mode are known to be valid; ``InvalidRequest`` saying why not."""
    if query.k < 1:
        raise InvalidRequest(f"k must be at least 1, got {query.k}")
    if query.k > MAX_K:
        raise InvalidRequest(f"k must be at most {MAX_K}, got {query.k}")
    if query.mode not in ("dense", "sparse", "hybrid"):
        raise InvalidRequest(f"unknown search mode {query.mode!r}")
    if query.fusion not in ("rrf", "weighted"):
        raise InvalidRequest(f"unknown fusion {query.fusion!r}")
    if not 0.0 <= query.dense_share <= 1.0:
        raise InvalidRequest(f"dense_share must be between 0 and 1, got {query.dense_share}")
    if not 0.0 <= query.adaptive <= 10.0:
        raise InvalidRequest(f"adaptive must be between 0 and 10, got {query.adaptive}")
    if query.mode == "sparse":
        return None
    if query.vector is None:
        raise InvalidRequest(f"{query.mode} search needs a query vector")
    return checked_vector(query.vector, spec, what="query vector")


def side_size(query: IndexQuery) -> int:
    """How many results each side returns: ``k``, or for hybrid the fusion candidates
    (at least ``k``, at most ``MAX_K``)."""
    return query.k if query.mode != "hybrid" else min(max(query.candidates, query.k), MAX_K)


def checked_vector(vector: Any, spec: EmbeddingSpec, *, what: str) -> np.ndarray:
    """``vector`` as float32 of ``spec``'s dimension, or ``InvalidRequest`` saying why not."""
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1 or arr.shape[0] != spec.dimension:
        raise InvalidRequest(
            f"{what} has shape {tuple(arr.shape)}, expected ({spec.dimension},) for {spec.model}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidRequest(f"{what} contains NaN or infinity")
    if not np.any(arr):
        raise InvalidRequest(f"{what} is all zeros; cosine similarity is undefined")
    return arr


def checked_entry_vectors(
    document_id: str, entries: Sequence[IndexEntry], spec: EmbeddingSpec
) -> list[np.ndarray]:
    """The entries' vectors, in order, once every entry is known to belong to
    ``document_id``, to appear once, and to carry a valid vector: a document is written
    whole or not at all, so everything is checked before anything is written."""
    seen: set[str] = set()
    vectors = []
    for entry in entries:
        if entry.document_id != document_id:
            raise InvalidRequest(
                f"entry {entry.chunk_id!r} belongs to document {entry.document_id!r}, "
                f"not {document_id!r}"
            )
        if entry.chunk_id in seen:
            raise InvalidRequest(f"chunk id {entry.chunk_id!r} appears twice")
        seen.add(entry.chunk_id)
        vectors.append(checked_vector(entry.vector, spec, what=f"chunk {entry.chunk_id!r}"))
    return vectors
