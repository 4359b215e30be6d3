"""Hybrid search with one round of dense pseudo-relevance feedback (``RAGD_FUSION_FEEDBACK``).

A first hybrid search ranks the query; the best chunk of each of its top documents is
taken as relevant, their stored vectors are added to the query vector
(``domain.fusion.feedback_vector``), and hybrid search runs again with that vector. It is
done here, over the Index port, rather than inside each index, so every backend ranks the
same for the same settings by construction: the index contract suite already checks that
hybrid search and ``stored_vectors`` agree across backends. Off by default: on ragd's
chunks it did not beat plain fusion on both tuning sets (bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ragd.domain.fusion import feedback_vector
from ragd.domain.models import ScoredChunk, TenantId
from ragd.ports import Index, Store
from ragd.ports.index import IndexQuery, VectorSource

POOL = 20
"""Fused hits looked through for the top documents (a document may have several)."""


@dataclass(frozen=True)
class RelevanceFeedback:
    documents: int = 0
    """How many top documents feed back (0: off)."""
    weight: float = 0.5
    """Each feedback vector's weight against the query vector (both unit length)."""
    dense_share: float = 0.6
    """Weighted fusion's dense share in the second search."""


def feedback_search(
    index: Index, store: Store, tenant: TenantId, query: IndexQuery, feedback: RelevanceFeedback
) -> list[ScoredChunk]:
    """The query's hybrid results after one feedback round (a first search of ``POOL``
    hits, then ``feedback_round``); the plain search when feedback does not apply."""
    if not _applies(index, query, feedback):
        return index.search(tenant, query)
    first = index.search(tenant, replace(query, k=max(query.k, POOL)))
    return feedback_round(index, store, tenant, query, first, feedback)


def feedback_round(
    index: Index,
    store: Store,
    tenant: TenantId,
    query: IndexQuery,
    first: list[ScoredChunk],
    feedback: RelevanceFeedback,
) -> list[ScoredChunk]:
    """The second search of a feedback round, given the first search's results ``first``
    (best first; when they hold fewer documents than wanted and were cut at ``query.k``,
    the first search is asked again for ``POOL`` hits). ``first`` itself, cut to
    ``query.k``, when feedback is off, the query has no vector or is not hybrid, the index
    cannot return stored vectors, or nothing was found to feed back.

    Documents are told apart by the Store (read under the query's access filter, so a
    chunk the caller may not read never steers the search). The returned hits keep their
    cosine similarity to the *original* query, which the answer path's threshold reads."""
    vector = query.vector
    if vector is None or not _applies(index, query, feedback):
        return first[: query.k]
    assert isinstance(index, VectorSource)  # _applies checked it
    chosen = _best_per_document(store, tenant, query, first, feedback.documents)
    if len(chosen) < feedback.documents and len(first) >= query.k and query.k < POOL:
        first = index.search(tenant, replace(query, k=POOL))
        chosen = _best_per_document(store, tenant, query, first, feedback.documents)
    stored = index.stored_vectors(tenant, chosen) if chosen else {}
    vectors = [stored[c] for c in chosen if c in stored]
    if not vectors:
        return first[: query.k]
    expanded = feedback_vector(vector, vectors, feedback.weight)
    second = index.search(tenant, replace(query, vector=expanded, dense_share=feedback.dense_share))
    return _with_query_similarity(index, tenant, vector, second)


def _applies(index: Index, query: IndexQuery, feedback: RelevanceFeedback) -> bool:
    return (
        feedback.documents > 0
        and query.vector is not None
        and query.mode == "hybrid"
        and isinstance(index, VectorSource)
    )


def _best_per_document(
    store: Store, tenant: TenantId, query: IndexQuery, hits: list[ScoredChunk], documents: int
) -> list[str]:
    """The best-ranked chunk of each of the first ``documents`` documents among ``hits``."""
    found = store.get_chunks(tenant, [h.chunk_id for h in hits], query.filters.access)
    chosen: list[str] = []
    seen: set[str] = set()
    for hit in hits:
        pair = found.get(hit.chunk_id)
        if pair is None or pair[1].id in seen:
            continue
        seen.add(pair[1].id)
        chosen.append(hit.chunk_id)
        if len(chosen) == documents:
            break
    return chosen


def _with_query_similarity(
    index: VectorSource, tenant: TenantId, vector: np.ndarray, hits: list[ScoredChunk]
) -> list[ScoredChunk]:
    """``hits`` whose dense similarity (where the dense side saw them) is the cosine to
    ``vector`` again, not to the expanded vector the second search used."""
    seen = [h.chunk_id for h in hits if h.similarity is not None]
    stored = index.stored_vectors(tenant, seen) if seen else {}
    q = np.asarray(vector, dtype=np.float64)
    qn = float(np.linalg.norm(q)) or 1.0
    out: list[ScoredChunk] = []
    for h in hits:
        v = stored.get(h.chunk_id)
        if h.similarity is None or v is None:
            out.append(h)
            continue
        v64 = np.asarray(v, dtype=np.float64)
        cos = float(v64 @ q) / ((float(np.linalg.norm(v64)) or 1.0) * qn)
        out.append(replace(h, similarity=cos))
    return out
