"""Chunks as Qdrant points: stable ids, BM25 term weights, the outbox payload format."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from ragd.adapters.index.qdrant import ops as qdrant_ops
from ragd.adapters.index.qdrant.points import (
    AVG_LENGTH,
    K1,
    build_points,
    decode,
    document_sparse,
    encode,
    point_id,
    query_sparse,
    term_index,
)
from ragd.adapters.index.tokens import ChunkTerms, Fts5Tokenizer
from ragd.domain.models import EmbeddingSpec, IndexEntry, TenantId

T = TenantId("t1")


def test_point_ids_are_stable_and_scoped_to_the_tenant() -> None:
    assert point_id(T, "doc:1:0") == point_id(T, "doc:1:0")
    assert point_id(T, "doc:1:0") != point_id(TenantId("t2"), "doc:1:0")
    assert point_id(T, "doc:1:0") != point_id(T, "doc:1:1")


def test_bm25_weights_saturate_with_frequency_and_fall_with_length() -> None:
    def weight(tf: int, length: int) -> float:
        filler = {f"w{i}": 1 for i in range(length - tf)}
        indices, values = document_sparse(ChunkTerms({}, {"cat": tf, **filler}))
        return values[indices.index(term_index("cat"))]

    base = int(AVG_LENGTH)
    assert weight(1, base) == pytest.approx(1.0)  # tf 1 at average length: (k1+1)/(1+k1)
    assert weight(1, base) < weight(2, base) < weight(8, base) < K1 + 1
    assert weight(2, base) > weight(2, 4 * base)


def test_title_and_text_counts_add_up_and_indices_are_sorted() -> None:
    # A title token counts as a text token (TITLE_WEIGHT 1), as in the SQLite index.
    with_title = document_sparse(ChunkTerms({"cat": 1}, {"cat": 2, "dog": 1}))
    assert with_title[0] == sorted(with_title[0]) and len(with_title[0]) == 2
    assert with_title == document_sparse(ChunkTerms({}, {"cat": 3, "dog": 1}))


def test_query_terms_are_fts5_tokens_one_per_word() -> None:
    tok = Fts5Tokenizer()
    indices, values = query_sparse(tok, "The running DOGS, café!") or ([], [])
    assert set(indices) == {term_index("run"), term_index("dog"), term_index("cafe")}
    assert values == [1.0] * 3
    assert query_sparse(tok, "the of and") is None
    phrase = query_sparse(tok, "foo_bar")  # FTS5 splits it: both tokens count
    assert phrase is not None and set(phrase[0]) == {term_index("foo"), term_index("bar")}


def test_outbox_payload_round_trips() -> None:
    spec = EmbeddingSpec("m", 4)
    entries = [
        IndexEntry(
            f"c{i}", "d", "s.txt", "Title", f"text {i}", np.full(4, 0.5, np.float32), {"k": i}
        )
        for i in range(3)
    ]
    points = build_points(entries, np.stack([e.vector for e in entries]), Fts5Tokenizer())
    decoded = decode(encode(spec, points))
    assert decoded.spec == spec
    assert [p.chunk_id for p in decoded.points] == ["c0", "c1", "c2"]
    assert decoded.points[1].metadata == {"k": 1, "_ragd_c": "default"}  # + the access key
    assert np.array_equal(decoded.points[2].vector, points[2].vector)
    assert decoded.points[0].sparse_indices == points[0].sparse_indices
    assert decode(encode(spec, [])).points == []


def test_replacing_a_document_deletes_its_other_points_first() -> None:
    points = decode(
        encode(
            EmbeddingSpec("m", 2),
            build_points(
                [IndexEntry("c", "d", "s", "", "x", np.ones(2, np.float32))],
                np.ones((1, 2), np.float32),
                Fts5Tokenizer(),
            ),
        )
    ).points
    delete, upsert = qdrant_ops.replace_document(T, "d", points)
    assert delete.delete.filter.must_not[0].has_id == [point_id(T, "c")]  # type: ignore[union-attr]
    assert upsert.upsert.points[0].payload["chunk_id"] == "c"  # type: ignore[union-attr]
    (only,) = qdrant_ops.replace_document(T, "d", [])
    assert only.delete.filter.must_not is None  # type: ignore[union-attr]


def test_title_weight_multiplies_title_counts_like_the_other_indexes() -> None:
    terms = ChunkTerms(title={"cat": 1}, text={"cat": 1, "dog": 1})
    plain = dict(zip(*document_sparse(terms), strict=True))
    weighted = dict(zip(*document_sparse(terms, 3.0), strict=True))
    cat, dog = term_index("cat"), term_index("dog")
    assert weighted[cat] > plain[cat] and weighted[dog] == plain[dog]


def test_pgvector_rank_weights_express_the_same_title_weight() -> None:
    from ragd.adapters.index.pgvector.ranking import title_rank_weights
    from ragd.errors import ConfigError

    assert title_rank_weights(1.0) == (1.0, 0.0, 0.0, 1.0)
    d, _, _, a = title_rank_weights(3.0)
    assert a / d == pytest.approx(3.0)
    assert title_rank_weights(0.5) == (1.0, 0.0, 0.0, 0.5)
    with pytest.raises(ConfigError):
        title_rank_weights(float("nan"))
