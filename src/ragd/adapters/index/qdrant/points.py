"""Chunks as Qdrant points: ids, the dense vector, a BM25 sparse vector, and the payload.

Sparse vectors carry BM25's term-frequency part, computed here; Qdrant's ``IDF`` modifier
multiplies in the inverse document frequency at query time, from its own statistics
(scoped to the tenant, see ``QdrantIndex.search``), so document frequencies never have to
be maintained by ragd. Terms are FTS5's own tokens (``index/tokens.py``: unicode61 with
diacritics removed, porter stemming), the same the SQLite index ranks by, hashed to 32-bit
indices (a collision merges two terms' counts; with ~10^5 distinct terms in a tenant,
about one pair in 10^4 terms shares an index).

BM25 divides by the average document length, which only the whole corpus knows; Qdrant's
modifier does not supply it, so ``AVG_LENGTH`` is a constant: SciFact's chunks average
117 tokens, chunks of ragd's default 256 model tokens at most come to ~100-190.

A document write is encoded once, by the writer, into the outbox row (``encode``): point
payloads, sparse vectors and the float32 vectors, so the sync applies it without the
tokenizer or the model, and replays it byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragd.adapters.index.access import stored_metadata
from ragd.adapters.index.tokens import ChunkTerms, Fts5Tokenizer
from ragd.adapters.index.words import query_words
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId

DENSE = "dense"
SPARSE = "sparse"

K1 = 1.2
B = 0.75
AVG_LENGTH = 128.0
TITLE_WEIGHT = 1.0
"""How much a title token counts against a text token unless the index is told otherwise
(``RAGD_BM25_TITLE_WEIGHT``, the same weight the SQLite index gives FTS5's title column).
Weights are stored in the points: a change applies to what is written after it, so change
it with a ``ragd reindex``."""

_NAMESPACE = uuid.UUID("5b0e7c1e-8f3a-4a7e-9d7c-2f1c6a1d0b11")
_MAGIC = b"RQP1"


def point_id(tenant: TenantId, chunk_id: str) -> str:
    """A stable point id per (tenant, chunk): the same write always lands on the same
    point (idempotent replays), and no tenant can ever overwrite another's."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant}\x00{chunk_id}"))


def term_index(term: str) -> int:
    """A term's sparse index: the first 32 bits of its BLAKE2b hash."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


def document_sparse(
    terms: ChunkTerms, title_weight: float = TITLE_WEIGHT
) -> tuple[list[int], list[float]]:
    """BM25 term-frequency weights of one chunk, indices sorted (Qdrant requires it)."""
    length = terms.length
    norm = K1 * (1.0 - B + B * length / AVG_LENGTH)
    weights: dict[int, float] = {}
    for term, (title_tf, text_tf) in terms.frequencies.items():
        tf = title_weight * title_tf + text_tf
        index = term_index(term)
        weights[index] = weights.get(index, 0.0) + tf
    indices = sorted(weights)
    return indices, [weights[i] * (K1 + 1.0) / (weights[i] + norm) for i in indices]


def query_sparse(tokenizer: Fts5Tokenizer, text: str) -> tuple[list[int], list[float]] | None:
    """The query's terms as a sparse vector (None: no content word). Each query word is
    one OR-ed term, as in FTS5; a word FTS5 splits (``foo_bar``) contributes its tokens."""
    counts: dict[int, float] = {}
    for word in query_words(text):
        for token in tokenizer.query_word(word):
            index = term_index(token)
            counts[index] = counts.get(index, 0.0) + 1.0
    if not counts:
        return None
    indices = sorted(counts)
    return indices, [counts[i] for i in indices]


@dataclass(frozen=True)
class PointData:
    """One point as the sync writes it."""

    chunk_id: str
    source: str
    metadata: dict[str, Any]
    vector: np.ndarray
    sparse_indices: list[int]
    sparse_values: list[float]


@dataclass(frozen=True)
class EncodedDocument:
    spec: EmbeddingSpec
    points: list[PointData]


def build_points(
    entries: Sequence[IndexEntry],
    vectors: np.ndarray,
    tokenizer: Fts5Tokenizer,
    title_weight: float = TITLE_WEIGHT,
) -> list[PointData]:
    """Points of validated entries (``vectors[i]`` is ``entries[i]``'s, float32)."""
    terms = tokenizer.chunks([(e.title or "", e.text or "") for e in entries])
    points = []
    for entry, vector, chunk_terms in zip(entries, vectors, terms, strict=True):
        indices, values = document_sparse(chunk_terms, title_weight)
        points.append(
            PointData(
                chunk_id=entry.chunk_id,
                source=entry.source,
                metadata=_jsonable(stored_metadata(entry)),
                vector=vector,
                sparse_indices=indices,
                sparse_values=values,
            )
        )
    return points


def encode(spec: EmbeddingSpec, points: Sequence[PointData]) -> bytes:
    """An outbox payload: a JSON header (spec, payloads, sparse vectors) and the vectors
    as one float32 matrix, compressed."""
    header = json.dumps(
        {
            "model": spec.model,
            "dimension": spec.dimension,
            "points": [
                {
                    "c": p.chunk_id,
                    "s": p.source,
                    "m": p.metadata,
                    "i": p.sparse_indices,
                    "v": p.sparse_values,
                }
                for p in points
            ],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    matrix = np.asarray([p.vector for p in points], dtype="<f4").reshape(
        len(points), spec.dimension
    )
    body = _MAGIC + struct.pack("<I", len(header)) + header + matrix.tobytes()
    return zlib.compress(body, 1)


def decode(payload: bytes) -> EncodedDocument:
    body = zlib.decompress(payload)
    if body[:4] != _MAGIC:
        raise ValueError("not an outbox payload of this ragd version")
    (size,) = struct.unpack("<I", body[4:8])
    header = json.loads(body[8 : 8 + size])
    spec = EmbeddingSpec(header["model"], int(header["dimension"]))
    items = header["points"]
    matrix = np.frombuffer(body[8 + size :], dtype="<f4").reshape(len(items), spec.dimension)
    return EncodedDocument(
        spec,
        [
            PointData(p["c"], p["s"], p["m"], matrix[i], list(p["i"]), list(p["v"]))
            for i, p in enumerate(items)
        ],
    )


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as JSON would store it (the SQL indexes keep ``json.dumps(default=str)``)."""
    out: dict[str, Any] = json.loads(json.dumps(metadata, ensure_ascii=False, default=str))
    return out
