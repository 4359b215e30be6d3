"""A flaky provider behind the API: 50% HTTP 500s, 20% hangs, over 200 queries.

The provider is the fake OpenAI server (a real HTTP server speaking OpenAI's wire format),
reached through the real OpenAI-compatible adapter, behind retries, the circuit breaker and
the fallback chain ending in the extractive answerer. Every query must be answered, none
may outlive its time budget, the breaker must have opened, and the metrics must say so.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.api.conftest import TIDES, make_client, wait_indexed
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer, Reply

pytestmark = pytest.mark.slow

QUERIES = 200
TIMEOUT = 0.3
BUDGET = 2.0
"""Per query: provider deadline + one in-flight attempt's timeout + backoff + the rest."""


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_breaker_opens_fallback_answers_and_nothing_outlives_its_timeout(tmp_path: Path) -> None:
    rng = random.Random(7)
    script = []
    for _ in range(QUERIES * 3):
        roll = rng.random()
        if roll < 0.5:
            script.append(Reply.error(500, "upstream exploded", type="server_error"))
        elif roll < 0.7:
            script.append(Reply.hang(5.0))
        else:
            script.append(Reply())
    fallbacks_before = _sample("ragd_llm_fallbacks_total", {"dependency": "openai-compatible"})
    with FakeOpenAIServer() as fake:
        fake.enqueue(*script)
        overrides = {
            "llm_provider": "openai-compatible",
            "llm_base_url": fake.base_url,
            "llm_model": DEFAULT_MODEL,
            "llm_timeout_seconds": TIMEOUT,
            "llm_attempts": 2,
            "breaker_failures": 3,
            "breaker_reset_seconds": 0.1,
            "cache_ttl_seconds": 0,
        }
        with make_client(tmp_path / "d", **overrides) as c:
            doc = c.post("/api/v1/documents", json={"text": TIDES}).json()["id"]
            assert wait_indexed(c, doc)["status"] == "indexed"
            models: dict[str, int] = {}
            states: set[float] = set()
            slowest = 0.0
            for i in range(QUERIES):
                t0 = time.perf_counter()
                r = c.post("/api/v1/query", json={"query": f"What causes tides? ({i})"})
                elapsed = time.perf_counter() - t0
                slowest = max(slowest, elapsed)
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["answer"] and body["grounded"]
                models[body["model"]] = models.get(body["model"], 0) + 1
                assert elapsed < BUDGET, f"query {i} took {elapsed:.2f}s"
                states.add(
                    _sample("genai_circuit_breaker_state", {"dependency": "openai-compatible"})
                )
            metrics = c.get("/metrics").text
    assert len(fake.requests) < QUERIES * 2  # the open breaker spared the provider calls
    assert models.get("ragd-extractive", 0) > 0, models  # the fallback answered
    assert models.get(DEFAULT_MODEL, 0) > 0, models  # and the provider, between failures
    assert 1.0 in states, states  # the breaker was seen open
    fallbacks = _sample("ragd_llm_fallbacks_total", {"dependency": "openai-compatible"})
    assert fallbacks - fallbacks_before == models["ragd-extractive"]
    assert 'genai_circuit_breaker_state{dependency="openai-compatible"}' in metrics
    assert slowest < BUDGET


def test_health_detailed_shows_the_chain_and_an_open_breaker(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        fake.enqueue(*[Reply.error(500, "down", type="server_error")] * 10)
        overrides = {
            "llm_provider": "openai-compatible",
            "llm_base_url": fake.base_url,
            "llm_model": DEFAULT_MODEL,
            "llm_attempts": 1,
            "breaker_failures": 1,
            "breaker_reset_seconds": 60,
        }
        with make_client(tmp_path / "d", **overrides) as c:
            llm = c.get("/health/detailed").json()["checks"]["llm"]
            assert llm["status"] == "ok"
            assert [d["dependency"] for d in llm["chain"]] == ["openai-compatible", "extractive"]
            doc = c.post("/api/v1/documents", json={"text": TIDES}).json()["id"]
            wait_indexed(c, doc)
            assert (
                c.post("/api/v1/query", json={"query": "tides?"}).json()["model"]
                == "ragd-extractive"
            )
            llm = c.get("/health/detailed").json()["checks"]["llm"]
            assert llm["status"] == "degraded" and llm["chain"][0]["breaker"] == "open"
            assert llm["chain"][1]["breaker"] == "closed"
