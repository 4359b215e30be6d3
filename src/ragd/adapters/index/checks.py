"""The one check every Index adapter applies to a vector before storing or searching it.

A vector of the wrong shape, with NaN/infinity or all zeros is stored or ranked wrongly by
every backend (cosine similarity is undefined for a zero vector), and silently so: better a
clear 4xx at the boundary than a corrupt index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ragd.domain.models import EmbeddingSpec
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
