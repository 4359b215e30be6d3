"""The Reranker contract, run against every reranker adapter.

* ``jina``: ``POST /v1/rerank`` and ``cohere``: ``POST /v2/rerank``, each built from
  Settings as the container builds it, against ``tests.fakes.rerank_server`` (the two
  wire formats; scores from the overlap of content words).

There is no local cross-encoder case: no PyPI package ships cross-encoder weights in its
wheel. To add an adapter, add an ``AdapterCase`` to ``_cases``. Adapter-specific checks
(errors, keys, wire details) live in ``tests/unit/test_rerankers.py``.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ragd.config import Settings
from ragd.ports.reranker import Reranker
from ragd.services.container import build_reranker
from tests.fakes.rerank_server import COHERE_MODEL, JINA_MODEL, FakeRerankServer

KEY = "rk-contract-7d41"
QUESTION = "What causes spring tides?"
PASSAGES = [
    "Bees tell each other the distance to flowers by dancing.",
    "Spring tides happen when the sun and the moon pull together, so tides are higher.",
    "Neap tides are weaker tides at the first and third quarter moon.",
    "The stock market closed higher on Tuesday.",
    "Tides are caused by the gravity of the moon and, less, of the sun.",
]
RELEVANT = 1
IRRELEVANT = (0, 3)


@dataclass(frozen=True)
class AdapterCase:
    fresh: Callable[[], Reranker]
    is_loaded: Callable[[Reranker], bool]


def reranker_settings(**overrides: Any) -> Settings:
    """Settings with every reranker field explicit, so the environment cannot leak in."""
    base: dict[str, Any] = {
        "reranker_model": "",
        "reranker_base_url": None,
        "reranker_api_key": None,
        "jina_api_key": None,
        "cohere_api_key": None,
        "reranker_timeout_seconds": 10.0,
    }
    base.update(overrides)
    return Settings(**base)


def _cases(server: FakeRerankServer) -> dict[str, AdapterCase]:
    def built(model: str, **keys: Any) -> Callable[[], Reranker]:
        def fresh() -> Reranker:
            settings = reranker_settings(
                reranker_model=model, reranker_base_url=server.base_url, **keys
            )
            reranker = build_reranker(settings)
            assert reranker is not None
            return reranker

        return fresh

    def connected(reranker: Reranker) -> bool:
        return bool(getattr(reranker, "is_connected", True))

    return {
        "jina": AdapterCase(built(f"jina:{JINA_MODEL}", jina_api_key=KEY), connected),
        "cohere": AdapterCase(built(f"cohere:{COHERE_MODEL}", cohere_api_key=KEY), connected),
    }


@pytest.fixture(scope="module")
def server() -> Iterator[FakeRerankServer]:
    with FakeRerankServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module", params=["jina", "cohere"])
def case(request: pytest.FixtureRequest, server: FakeRerankServer) -> AdapterCase:
    return _cases(server)[request.param]


@pytest.fixture(scope="module")
def reranker(case: AdapterCase) -> Iterator[Reranker]:
    adapter = case.fresh()
    yield adapter
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def test_building_connects_to_nothing(case: AdapterCase) -> None:
    adapter = case.fresh()
    assert adapter.model
    assert not case.is_loaded(adapter)


def test_one_finite_score_per_passage(reranker: Reranker) -> None:
    scores = reranker.rerank(QUESTION, PASSAGES)
    assert len(scores) == len(PASSAGES)
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)


def test_the_relevant_passage_scores_highest(reranker: Reranker) -> None:
    scores = reranker.rerank(QUESTION, PASSAGES)
    assert max(range(len(scores)), key=scores.__getitem__) == RELEVANT
    assert all(scores[RELEVANT] > scores[i] for i in IRRELEVANT)


def test_scores_follow_the_passages_order(reranker: Reranker) -> None:
    """Providers answer sorted by score; the adapter must put scores back in order."""
    scores = reranker.rerank(QUESTION, PASSAGES)
    order = list(range(len(PASSAGES)))
    random.Random(7).shuffle(order)
    shuffled = reranker.rerank(QUESTION, [PASSAGES[i] for i in order])
    assert shuffled == pytest.approx([scores[i] for i in order])


def test_deterministic(reranker: Reranker) -> None:
    assert reranker.rerank(QUESTION, PASSAGES) == reranker.rerank(QUESTION, PASSAGES)


def test_no_passages_no_scores(reranker: Reranker) -> None:
    assert reranker.rerank(QUESTION, []) == []


def test_a_single_passage(reranker: Reranker) -> None:
    assert len(reranker.rerank(QUESTION, [PASSAGES[RELEVANT]])) == 1


def test_many_passages_all_scored(reranker: Reranker) -> None:
    """``TOP_K_RETRIEVAL`` can be large; every passage still gets its score."""
    many = [f"Passage {i} about tides and the moon number {i}." for i in range(100)]
    many[57] = PASSAGES[RELEVANT]
    scores = reranker.rerank(QUESTION, many)
    assert len(scores) == 100
    assert max(range(100), key=scores.__getitem__) == 57


def test_concurrent_calls_agree(reranker: Reranker) -> None:
    results: list[list[float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(reranker.rerank(QUESTION, PASSAGES))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(r == results[0] for r in results)
