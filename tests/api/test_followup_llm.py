"""History-aware retrieval with a model: the follow-up is condensed by one short call to
the LLM (here the fake OpenAI-wire server of the LLM contract tests), cached, and its
tokens are charged like the answer's; a failed call falls back to the model-free rewrite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragd.services.followups import CONDENSE_MAX_TOKENS, CONDENSE_SYSTEM
from tests.api.conftest import BEES, TIDES, make_client, wait_indexed
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer, Reply

CONDENSED = "How far away is the food that the honeybees' waggle dance points to?"
FIRST = "What do Honeybees perform to tell nest mates?"
FOLLOW_UP = "And what does the duration of it encode?"


def completion(text: str, prompt_tokens: int, completion_tokens: int) -> Reply:
    return Reply.json(
        200,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": DEFAULT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, llm: FakeOpenAIServer) -> Iterator[TestClient]:
    prices = json.dumps({DEFAULT_MODEL: {"input": 1.0, "output": 2.0}})
    with make_client(
        tmp_path / "d",
        llm_provider="openai-compatible",
        llm_base_url=llm.base_url,
        llm_model=DEFAULT_MODEL,
        llm_prices=prices,
    ) as c:
        for text in (BEES, TIDES):
            doc = c.post("/api/v1/documents", json={"text": text}).json()
            assert wait_indexed(c, doc["id"])["status"] == "indexed"
        yield c


def chat_bodies(llm: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r.body for r in llm.chat_requests()]


def test_a_follow_up_is_condensed_once_cached_and_charged(
    client: TestClient, llm: FakeOpenAIServer
) -> None:
    conv = client.post("/api/v1/conversations", json={}).json()["id"]
    first = client.post("/api/v1/query", json={"query": FIRST, "conversation_id": conv}).json()
    assert first["search_query"] == FIRST
    assert len(llm.chat_requests()) == 1  # no history: no condensing call

    llm.enqueue(completion(f'"{CONDENSED}"\n', prompt_tokens=50, completion_tokens=9))
    second = client.post("/api/v1/query", json={"query": FOLLOW_UP, "conversation_id": conv}).json()
    assert second["search_query"] == CONDENSED
    bodies = chat_bodies(llm)
    assert len(bodies) == 3  # condense, then answer
    condense = bodies[1]
    assert condense["max_tokens"] == CONDENSE_MAX_TOKENS
    assert condense["messages"][0] == {"role": "system", "content": CONDENSE_SYSTEM}
    assert FIRST in condense["messages"][1]["content"]
    assert FOLLOW_UP in condense["messages"][1]["content"]
    # The answer's prompt keeps the user's own question (and the stored history).
    answer_prompt = json.dumps(bodies[2]["messages"])
    assert FOLLOW_UP in answer_prompt and FIRST in answer_prompt

    usage = client.get("/api/v1/usage").json()
    [row] = usage["models"]
    assert (
        row["prompt_tokens"]
        == first["usage"]["prompt_tokens"] + second["usage"]["prompt_tokens"] + 50
    )
    assert (
        row["completion_tokens"]
        == first["usage"]["completion_tokens"] + second["usage"]["completion_tokens"] + 9
    )
    assert usage["cost_usd"] > 0

    # Same question, same history: the condensed question comes from the cache.
    history = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first["answer"]},
    ]
    again = client.post("/api/v1/query", json={"query": FOLLOW_UP, "history": history}).json()
    before = len(llm.chat_requests())
    llm.enqueue(completion("something else entirely?", 1, 1))  # would be used by a new call
    assert (
        client.post("/api/v1/query", json={"query": FOLLOW_UP, "history": history}).json()[
            "search_query"
        ]
        == again["search_query"]
    )
    assert len(llm.chat_requests()) == before  # answer and condensed question both cached


def test_a_failed_condensing_call_falls_back_to_the_model_free_rewrite(
    client: TestClient, llm: FakeOpenAIServer
) -> None:
    history = [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "A dance."}]
    llm.enqueue(Reply.error(400, "bad request"))
    r = client.post("/api/v1/query", json={"query": FOLLOW_UP, "history": history})
    assert r.status_code == 200, r.text
    assert "Honeybees" in r.json()["search_query"]
    assert r.json()["model"] == DEFAULT_MODEL  # the answer itself still came from the model


def test_an_empty_reply_falls_back_too(client: TestClient, llm: FakeOpenAIServer) -> None:
    history = [{"role": "user", "content": FIRST}]
    llm.enqueue(completion("  \n ", 10, 0))
    r = client.post("/api/v1/query", json={"query": "What does it encode?", "history": history})
    assert r.status_code == 200
    assert "Honeybees" in r.json()["search_query"]
