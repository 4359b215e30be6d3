"""Hybrid fusion as every index that fuses in Python does it: the query's RRF settings.

One helper, so the SQLite index's two search paths (in memory, through SQL) and Qdrant's
client-side fusion cannot drift apart in which of the query's settings they pass on.
pgvector fuses inside its SQL statement, with the same formula (``pgvector.sql``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragd.domain.fusion import rrf_fuse
from ragd.domain.models import ScoredChunk
from ragd.ports.index import IndexQuery


def fuse_hybrid(
    query: IndexQuery, dense: Sequence[ScoredChunk], sparse: Sequence[ScoredChunk]
) -> list[ScoredChunk]:
    """The query's top ``k`` of both sides' lists (best first), by weighted RRF."""
    return rrf_fuse(
        dense,
        sparse,
        k=query.rrf_k,
        dense_weight=query.dense_weight,
        sparse_weight=query.sparse_weight,
        limit=query.k,
    )
