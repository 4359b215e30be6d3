"""Hybrid fusion as every index does it: the query's fusion method and settings.

One helper, so the SQLite index's two search paths (in memory, through SQL), pgvector and
Qdrant's client-side fusion cannot drift apart in which of the query's settings they pass
on. pgvector fuses reciprocal ranks inside its SQL statement, with the same formula
(``pgvector.sql``); weighted fusion it does here, like the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragd.adapters.index.checks import side_size
from ragd.domain.fusion import RESCALE_DEPTH, rrf_fuse, weighted_fuse
from ragd.domain.models import ScoredChunk
from ragd.ports.index import IndexQuery


def fuse_hybrid(
    query: IndexQuery, dense: Sequence[ScoredChunk], sparse: Sequence[ScoredChunk]
) -> list[ScoredChunk]:
    """The query's top ``k`` of both sides' lists (best first), by its fusion method."""
    if query.fusion == "weighted":
        return weighted_fuse(
            dense,
            sparse,
            dense_weight=query.dense_share,
            depth=min(side_size(query), RESCALE_DEPTH),
            adaptive=query.adaptive,
            limit=query.k,
        )
    return rrf_fuse(
        dense,
        sparse,
        k=query.rrf_k,
        dense_weight=query.dense_weight,
        sparse_weight=query.sparse_weight,
        limit=query.k,
    )
