"""The one check every Index adapter applies to a vector before storing or searching it.

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
