"""Dense pseudo-relevance feedback (``RAGD_FUSION_FEEDBACK``) through the real search
service on SQLite: what it feeds back, what the hits carry, and that off means off."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ragd.domain.fusion import feedback_vector
from ragd.domain.models import TenantId
from ragd.ports.index import IndexQuery, VectorSource
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.relevance_feedback import POOL, RelevanceFeedback, feedback_search
from ragd.worker import build_worker
from tests.conftest import make_settings

TOPICS = [
    "Honeybees perform a waggle dance to tell the hive where flowers are.",
    "Bumblebees pollinate tomatoes by buzzing at a high frequency.",
    "Volcanoes erupt lava and ash when magma pressure builds up.",
    "Glaciers carve valleys as they slide slowly downhill.",
    "The printing press spread books across Europe in the fifteenth century.",
    "Honey is made by bees from nectar that they evaporate in the comb.",
    "Coral reefs bleach when the sea grows too warm for their algae.",
    "Wasps build paper nests from chewed wood fibre.",
]


def _services(tmp_path: Path, **kw: object) -> Services:
    settings = make_settings(tmp_path / "data", **kw)
    migrate_database(settings)
    return build_services(settings)


def _fill(svc: Services, tenant: TenantId) -> None:
    for i, text in enumerate(TOPICS):
        # The first document is long enough for several chunks (64 tokens each here).
        body = " ".join([text] * (6 if i == 0 else 1))
        svc.ingest.submit_text(tenant, body, title=f"doc {i}")
    build_worker(svc).run(until_idle=True)


def test_feedback_adds_the_best_chunk_of_each_top_document_and_searches_again(
    tmp_path: Path, tenant: TenantId
) -> None:
    svc = _services(tmp_path, fusion_feedback=2, fusion_feedback_weight=0.5)
    try:
        _fill(svc, tenant)
        query = "how do bees make honey"
        got = svc.search.search(tenant, query, mode="hybrid", k=5).hits
        # The same round by hand, through the ports.
        vec = svc.embedder.embed_query(query)
        base = IndexQuery(
            text=query,
            vector=vec,
            k=POOL,
            candidates=100,
            fusion="weighted",
            dense_share=0.4,
            rrf_k=10,
            sparse_weight=1.25,
        )
        first = svc.index.search(tenant, base)
        found = svc.store.get_chunks(tenant, [h.chunk_id for h in first])
        chosen: list[str] = []
        for h in first:
            if found[h.chunk_id][1].id not in {found[c][1].id for c in chosen}:
                chosen.append(h.chunk_id)
        chosen = chosen[:2]
        assert len({found[c][1].id for c in chosen}) == 2  # two documents, not two chunks
        assert isinstance(svc.index, VectorSource)
        stored = svc.index.stored_vectors(tenant, chosen)
        moved = feedback_vector(vec, [stored[c] for c in chosen], 0.5)
        second = svc.index.search(tenant, replace(base, vector=moved, k=5, dense_share=0.6))
        assert [h.chunk_id for h in got] == [h.chunk_id for h in second]
        # Similarities stay the cosine to the asked query, not to the moved vector.
        dense = {
            h.chunk_id: h.similarity
            for h in svc.search.search(tenant, query, mode="dense", k=50).hits
        }
        for hit in got:
            if hit.similarity is not None:
                assert hit.similarity == pytest.approx(dense[hit.chunk_id], abs=1e-5)
        plain = svc.index.search(tenant, replace(base, k=5))
        assert [h.score for h in got] != [h.score for h in plain]  # the round moved scores
        # k = 1: the first page holds one document, so the round asks for POOL hits to
        # find two, and ranks like the round that started from POOL hits.
        [one] = svc.search.search(tenant, query, mode="hybrid", k=1).hits
        policy = RelevanceFeedback(2, 0.5, 0.6)
        [want_one] = feedback_search(svc.index, svc.store, tenant, replace(base, k=1), policy)
        assert one.chunk_id == want_one.chunk_id == second[0].chunk_id
        assert one.score == pytest.approx(want_one.score)
    finally:
        svc.close()


def test_feedback_off_or_outside_hybrid_is_the_plain_search(
    tmp_path: Path, tenant: TenantId
) -> None:
    svc = _services(tmp_path)
    try:
        _fill(svc, tenant)
        vec = svc.embedder.embed_query("bees")
        q = IndexQuery(text="bees", vector=vec, k=5, fusion="weighted", dense_share=0.4)
        plain = svc.index.search(tenant, q)
        assert feedback_search(svc.index, svc.store, tenant, q, RelevanceFeedback(0)) == plain
        dense_q = replace(q, mode="dense")
        assert feedback_search(
            svc.index, svc.store, tenant, dense_q, RelevanceFeedback(2)
        ) == svc.index.search(tenant, dense_q)
        # Nothing found: nothing to feed back, an empty answer rather than an error.
        empty = replace(q, text="zzzz", vector=vec, filters=q.filters)
        other = TenantId(f"{tenant}-empty")
        assert feedback_search(svc.index, svc.store, other, empty, RelevanceFeedback(2)) == []
    finally:
        svc.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"fusion_feedback": 6},
        {"fusion_feedback": -1},
        {"fusion_feedback_weight": -0.1},
        {"fusion_feedback_dense_share": 1.5},
    ],
)
def test_bad_feedback_settings_are_refused(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, **bad)


def test_feedback_vector_is_unit_query_plus_weighted_unit_feedback() -> None:
    q = np.array([3.0, 0.0], dtype=np.float32)
    fb = [np.array([0.0, 2.0], dtype=np.float32), np.zeros(2, dtype=np.float32)]
    out = feedback_vector(q, fb, 0.5)
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([1.0, 0.5])
