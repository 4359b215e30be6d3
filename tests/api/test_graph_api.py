"""The graph modes over HTTP: ``/api/v1/search`` with ``graph`` and ``hybrid+graph``
returns the relations walked and the hits that state them; ``/api/v1/query`` answers from
them; the OpenAI-compatible models list the graph modes only when the graph is on; a
graph mode on a service without the graph is refused (422 problem)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client, wait_indexed

TRIAL = "In a small trial, Aspirin was tested by the Hallbrook Research Group."
STUDY = "Later the Hallbrook Research Group studied Protein Veltrin in mice."
QUESTION = "Which drug was tested by the group that studied Protein Veltrin?"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path / "data", graph_enabled=True) as c:
        yield c


def _load(client: TestClient) -> dict[str, str]:
    ids = {
        name: client.post("/api/v1/documents", json={"text": text, "title": name}).json()["id"]
        for name, text in (("trial", TRIAL), ("study", STUDY))
    }
    for i in ids.values():
        assert wait_indexed(client, i)["status"] == "indexed"
    deadline = time.monotonic() + 30  # the graph stage follows indexing
    while time.monotonic() < deadline:
        hits = client.post("/api/v1/search", json={"query": QUESTION, "mode": "graph"}).json()
        if len({h["document_id"] for h in hits["hits"]}) == 2:
            break
        time.sleep(0.1)
    return ids


def test_graph_modes_return_relations_and_the_hits_stating_them(client: TestClient) -> None:
    ids = _load(client)
    for mode in ("graph", "hybrid+graph"):
        r = client.post("/api/v1/search", json={"query": QUESTION, "mode": mode, "top_k": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["mode"] == mode
        assert {h["document_id"] for h in body["hits"]} == set(ids.values())
        shown = {h["chunk_id"] for h in body["hits"]}
        walked = {(x["source"], x["target"]): x for x in body["relations"]}
        rel = walked[("Aspirin", "Hallbrook Research Group")]
        assert rel["hops"] == 2 and set(rel["chunk_ids"]) <= shown
    plain = client.post("/api/v1/search", json={"query": QUESTION, "mode": "hybrid"}).json()
    assert plain["relations"] == []
    answer = client.post("/api/v1/query", json={"query": QUESTION, "mode": "hybrid+graph"})
    assert answer.status_code == 200
    assert {c["document_id"] for c in answer.json()["citations"]} <= set(ids.values())
    models = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert {"ragd-graph", "ragd-hybrid+graph"} <= models


def test_a_graph_mode_without_the_graph_is_refused(tmp_path: Path) -> None:
    with make_client(tmp_path / "data") as client:
        r = client.post("/api/v1/search", json={"query": "x", "mode": "graph"})
        assert r.status_code == 422  # InvalidRequest, as for a bad k
        assert "RAGD_GRAPH_ENABLED" in r.json()["detail"]
        assert r.headers["content-type"].startswith("application/problem+json")
        bad = client.post("/api/v1/search", json={"query": "x", "mode": "graf"})
        assert bad.status_code == 422
        models = {m["id"] for m in client.get("/v1/models").json()["data"]}
        assert "ragd-graph" not in models and "ragd-hybrid" in models


def test_hybrid_graph_starts_from_the_same_hybrid_list(tmp_path: Path) -> None:
    """The hybrid list ``hybrid+graph`` fuses the graph into is the one ``hybrid`` returns,
    with the configured fusion (it was plain RRF whatever RAGD_FUSION said). With every
    weight on the dense side, hybrid ranks as dense does; a graph that adds nothing (no
    shared entities) must leave that order as it is."""
    # Each question's words are in a text it does not mean (a satellite, a stock market),
    # its meaning in one without its words: plain RRF puts the first on top, dense the
    # second.
    texts = [
        "Honeybees show nest mates where the flowers are with a waggle of the body.",
        "Communication satellites orbit the earth and relay television signals.",
        "Glaciers carve deep valleys as the ice slides slowly over bedrock.",
        "Frozen rivers: skaters glide where the water stopped flowing in winter.",
        "Movement of the stock market surprised analysts this quarter.",
    ]
    with make_client(
        tmp_path / "data",
        graph_enabled=True,
        fusion_dense_share=1.0,
        embedding_model="all-MiniLM-L6-v2",
    ) as c:
        for i, text in enumerate(texts):
            r = c.post("/api/v1/documents", json={"text": text, "title": f"t{i}"})
            assert wait_indexed(c, r.json()["id"])["status"] == "indexed"
        for q in ("insect communication", "ice sheet movement"):
            order = {
                mode: [
                    h["chunk_id"]
                    for h in c.post(
                        "/api/v1/search", json={"query": q, "mode": mode, "top_k": 6}
                    ).json()["hits"]
                ]
                for mode in ("dense", "hybrid", "hybrid+graph")
            }
            assert order["hybrid"] == order["dense"], order
            assert order["hybrid+graph"] == order["hybrid"], (q, order)
