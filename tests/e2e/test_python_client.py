"""The Python client (``clients/python/ragd_client``) against a live ``ragd serve``.

Real processes and real HTTP: uploads streamed with progress, pagination over every
document, search, answers plain and streamed (sync and async), problem+json errors as
typed exceptions, and a 429 from the server's own rate limiter waited out by the client's
retry (its ``Retry-After`` honoured).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from ragd_client import (
    AsyncRagdClient,
    AuthenticationError,
    Citations,
    Done,
    NotFoundError,
    PermissionDeniedError,
    RagdClient,
    RateLimitError,
    RetryPolicy,
    Token,
    UnsupportedMediaTypeError,
    ValidationError,
)

from tests.live import ROOT, Server

pytestmark = pytest.mark.slow

FACT = "The Skerrow Island lighthouse was automated in 1987, after its last keeper retired."
QUESTION = "When was the Skerrow Island lighthouse automated?"


def _ragd(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-m", "ragd.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data = tmp_path_factory.mktemp("client")
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "RAGD_AUTH": "required",
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_WORKER_POLL_SECONDS": "0.05",
        "LOG_LEVEL": "warning",
    }
    admin = _ragd(["admin", "create-platform-admin"], env)["key"]
    acme = _ragd(["admin", "create-tenant", "acme"], env)["key"]
    slow = _ragd(["admin", "create-tenant", "slow"], env)["key"]
    harbour = _ragd(["admin", "create-tenant", "harbour"], env)["key"]
    bob = _ragd(["admin", "create-user", "--tenant", "harbour", "--name", "bob"], env)["key"]
    server = Server(env, data / "serve.log")
    try:
        r = httpx.put(
            f"{server.base}/admin/tenants/slow/limits",
            json={"rate_limit_rpm": 20},
            headers={"X-API-Key": admin},
        )
        assert r.status_code == 200, r.text
        yield {
            "base": server.base,
            "acme": acme,
            "slow": slow,
            "harbour": harbour,
            "bob": bob,
            "dir": str(data),
        }
    finally:
        server.stop()


def test_sync_client_end_to_end(live: dict[str, str]) -> None:
    big = Path(live["dir"]) / "notes.txt"
    big.write_text("Puffins nest on the western cliffs every summer.\n" * 6000)  # ~300 KB
    progress: list[tuple[int, int]] = []
    with RagdClient(live["base"], api_key=live["acme"]) as ragd:
        assert ragd.me().tenant_id == "acme"
        island = ragd.add_text(FACT, title="Skerrow")
        assert island.outcome == "queued"
        notes = ragd.upload(big, on_progress=lambda sent, total: progress.append((sent, total)))
        assert notes.source == "notes.txt"
        sizes = {total for _, total in progress}
        assert sizes == {big.stat().st_size}
        sent = [s for s, _ in progress]
        assert sent == sorted(sent) and sent[0] == 0 and sent[-1] == big.stat().st_size
        assert len(progress) > 3  # streamed in chunks, not one write
        again = ragd.upload(big.read_bytes(), filename="notes.txt")
        assert again.outcome == "unchanged" and again.id == notes.id
        extra = [ragd.add_text(f"Note number {i} about tides.", title=f"n{i}") for i in range(3)]
        for doc in (island, notes, *extra):
            assert ragd.wait_indexed(doc.id, timeout=60).status == "indexed"

        ids = [d.id for d in ragd.iter_documents(page_size=2)]
        assert sorted(ids) == sorted([island.id, notes.id, *(d.id for d in extra)])
        assert len(ids) == len(set(ids)) == ragd.list_documents(limit=1).total

        hits = ragd.search("lighthouse keeper", top_k=3).hits
        assert hits[0].document_id == island.id

        answer = ragd.ask(QUESTION)
        assert answer.grounded and "1987" in answer.answer
        assert [c.document_id for c in answer.citations] == [island.id]

        events = list(ragd.ask_stream(QUESTION))
        tokens = [e.text for e in events if isinstance(e, Token)]
        assert tokens and isinstance(events[-2], Citations) and isinstance(events[-1], Done)
        done = events[-1].answer
        assert "1987" in done.answer and done.citations[0].document_id == island.id
        assert done.passages, "the passages of the citations event ride on Done"

        ragd.delete_document(extra[0].id)
        with pytest.raises(NotFoundError) as missing:
            ragd.get_document(extra[0].id)
        assert missing.value.status == 404 and missing.value.code == "not_found"
        assert missing.value.request_id
        with pytest.raises(ValidationError):
            ragd.add_text("")
        with pytest.raises(UnsupportedMediaTypeError):
            ragd.upload(b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4, filename="tool.bin")

    with RagdClient(live["base"], api_key="rgd_nope_nope") as stranger:
        with pytest.raises(AuthenticationError) as refused:
            stranger.me()
        assert refused.value.status == 401


def test_async_client_end_to_end(live: dict[str, str]) -> None:
    async def main() -> None:
        progress: list[int] = []
        bees = b"Honeybees tell nest mates the distance to flowers with a waggle dance."
        async with AsyncRagdClient(live["base"], api_key=live["acme"]) as ragd:
            doc = await ragd.upload(
                bees,
                filename="bees.txt",
                title="Bees",
                on_progress=lambda sent, _total: progress.append(sent),
            )
            assert progress[0] == 0 and progress[-1] == len(bees)
            assert (await ragd.wait_indexed(doc.id, timeout=60)).status == "indexed"
            ids = [d.id async for d in ragd.iter_documents(page_size=1)]
            assert doc.id in ids and len(ids) == len(set(ids))
            answer = await ragd.ask("How do honeybees tell the distance to flowers?")
            assert answer.grounded and doc.id in {c.document_id for c in answer.citations}
            events = [e async for e in ragd.ask_stream("What do bees dance?")]
            assert isinstance(events[-1], Done) and any(isinstance(e, Token) for e in events)
            with pytest.raises(NotFoundError):
                await ragd.get_document("doc_missing")

    anyio.run(main)


def test_429_is_retried_after_the_servers_retry_after(live: dict[str, str]) -> None:
    impatient = RagdClient(live["base"], api_key=live["slow"], retry=RetryPolicy(max_retries=0))
    with impatient, pytest.raises(RateLimitError) as limited:
        for _ in range(25):  # a budget of 20 a minute, spent at once
            impatient.me()
    wait = limited.value.retry_after
    assert wait is not None and 0 < wait <= 3.5

    with RagdClient(live["base"], api_key=live["slow"]) as patient:
        started = time.monotonic()
        assert patient.me().tenant_id == "slow"  # 429 first, then the retry succeeds
        assert time.monotonic() - started >= wait * 0.5

    hasty = RetryPolicy(max_retries=3, max_wait=0.01)  # will not wait seconds
    with RagdClient(live["base"], api_key=live["slow"], retry=hasty) as ragd:
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            ragd.me()
        assert time.monotonic() - started < 1


# -- conversations -------------------------------------------------------------------

SKERROW = (
    "The Skerrow Island lighthouse was automated in 1987, after its last keeper retired. "
    "The Skerrow Island lighthouse was designed by the engineer Alan Brodie in 1854. "
    "The lantern of the Skerrow Island lighthouse flashes white every ten seconds."
)
VESSBY = (
    "The Vessby lighthouse was designed by the engineer Thomas Smith in 1799. "
    "The lantern of the Vessby lighthouse flashes red every five seconds."
)
TURNS = [
    ("When was the Skerrow Island lighthouse automated?", "1987"),
    ("Who designed it?", "Alan Brodie"),  # "it": the lighthouse of the first question
    ("How often does its lantern flash?", "ten seconds"),
]

RESUME = """
import json, sys
from ragd_client import RagdClient

base, key, conv_id, question = sys.argv[1:]
with RagdClient(base, api_key=key) as ragd:
    listed = [c.id for c in ragd.iter_conversations(page_size=1)]
    before = ragd.get_conversation(conv_id)
    answer = ragd.ask(question, conversation_id=conv_id)
    after = ragd.get_conversation(conv_id)
print(json.dumps({
    "listed": listed,
    "before": [
        {
            "answer_id": t.answer_id,
            "question": t.question,
            "search_query": t.search_query,
            "cited": [c.document_id for c in t.answer.citations],
        }
        for t in before.turns
    ],
    "answer": {
        "answer_id": answer.answer_id,
        "text": answer.answer,
        "search_query": answer.search_query,
        "conversation_id": answer.conversation_id,
        "cited": [c.document_id for c in answer.citations],
    },
    "after": [t.answer_id for t in after.turns],
    "turns": after.conversation.turns,
}))
"""


def _client_env() -> dict[str, str]:
    """The environment of a new Python process that imports the client from this tree."""
    client_dir = str(ROOT / "clients" / "python")
    path = os.pathsep.join(p for p in (client_dir, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_a_three_turn_conversation_resumed_in_a_new_process(live: dict[str, str]) -> None:
    with RagdClient(live["base"], api_key=live["harbour"]) as ragd:
        skerrow = ragd.upload(SKERROW.encode(), filename="skerrow.txt", title="Skerrow")
        vessby = ragd.add_text(VESSBY, title="Vessby")
        for doc in (skerrow, vessby):
            assert ragd.wait_indexed(doc.id, timeout=60).status == "indexed"

        chat = ragd.create_conversation()
        assert chat.turns == 0 and chat.owned and not chat.shared
        answers = []
        for question, fact in TURNS:
            answer = ragd.ask(question, conversation_id=chat.id)
            assert answer.conversation_id == chat.id and answer.answer_id
            assert answer.grounded and fact in answer.answer, (question, answer.answer)
            assert answer.citations and {c.document_id for c in answer.citations} == {skerrow.id}
            answers.append(answer)
        # What was searched: the first question as asked, the follow-ups made stand-alone
        # from the stored turns (the client sends no history).
        assert answers[0].search_query == TURNS[0][0]
        for answer, (question, _) in zip(answers[1:], TURNS[1:], strict=True):
            assert answer.search_query and answer.search_query != question
            assert "Skerrow Island" in answer.search_query
        ids = [a.answer_id for a in answers]
        # The control: outside the conversation the follow-up searches its own words and
        # lands on the other lighthouse.
        alone = ragd.ask(TURNS[1][0])
        assert alone.search_query == TURNS[1][0] and alone.conversation_id is None
        assert {c.document_id for c in alone.citations} != {skerrow.id}

    # A new process: only the base URL, the key and the conversation id cross over.
    fourth = "When was it designed?"
    r = subprocess.run(
        [sys.executable, "-c", RESUME, live["base"], live["harbour"], chat.id, fourth],
        env=_client_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["listed"][0] == chat.id  # latest first: it was just asked in
    before = resumed["before"]
    assert [t["question"] for t in before] == [q for q, _ in TURNS]
    assert [t["answer_id"] for t in before] == ids
    assert [t["search_query"] for t in before] == [a.search_query for a in answers]
    assert all(t["cited"] == [skerrow.id] * len(t["cited"]) and t["cited"] for t in before)
    answer = resumed["answer"]
    assert answer["conversation_id"] == chat.id and "1854" in answer["text"]
    assert "Skerrow Island" in answer["search_query"] and answer["cited"]
    assert resumed["after"] == [*ids, answer["answer_id"]] and resumed["turns"] == 4

    # Back here, the fourth turn is stored with its citations; the title is the first question.
    with RagdClient(live["base"], api_key=live["harbour"]) as ragd:
        detail = ragd.get_conversation(chat.id)
        assert detail.conversation.title == TURNS[0][0] and detail.conversation.turns == 4
        last = detail.turns[-1]
        assert last.question == fourth and last.answer_id == answer["answer_id"]
        assert last.answer.answer == answer["text"]
        assert [c.document_id for c in last.answer.citations] == answer["cited"]
        assert last.answer.passages

        verdict = ragd.feedback(ids[1], "down", reason="incomplete", comment="no first name")
        assert (verdict.answer_id, verdict.rating, verdict.reason) == (ids[1], "down", "incomplete")
        assert ragd.feedback(ids[1], "up").reason is None  # again: replaces it
        with pytest.raises(ValidationError):
            ragd.feedback(ids[0], "up", reason="wrong")  # a reason goes with a thumbs-down
        with pytest.raises(NotFoundError):
            ragd.feedback("ans_missing", "up")


def test_an_unknown_or_foreign_conversation_is_not_found(live: dict[str, str]) -> None:
    with RagdClient(live["base"], api_key=live["harbour"]) as ragd:
        mine = ragd.create_conversation("Private")
        for missing in ("conv_missing", "../documents", "a/b?c=d#e"):
            with pytest.raises(NotFoundError) as unknown:
                ragd.get_conversation(missing)
            assert unknown.value.code == "not_found"
        with pytest.raises(NotFoundError):
            ragd.ask("Who designed it?", conversation_id="conv_missing")
        with pytest.raises(NotFoundError):
            list(ragd.ask_stream("Who designed it?", conversation_id="conv_missing"))
        with pytest.raises(ValidationError):
            ragd.ask("Who designed it?", conversation_id="c" * 65)  # over the id's length

    # Another user of the same tenant (unshared), and another tenant: it does not exist.
    for key in (live["bob"], live["acme"]):
        with RagdClient(live["base"], api_key=key) as stranger:
            with pytest.raises(NotFoundError):
                stranger.get_conversation(mine.id)
            with pytest.raises(NotFoundError):
                stranger.ask("Who designed it?", conversation_id=mine.id)
            with pytest.raises(NotFoundError):
                stranger.rename_conversation(mine.id, "taken")
            with pytest.raises(NotFoundError):
                stranger.delete_conversation(mine.id)
            assert mine.id not in [c.id for c in stranger.iter_conversations(shared=True)]
    with RagdClient(live["base"], api_key=live["harbour"]) as ragd:
        assert ragd.get_conversation(mine.id).conversation.title == "Private"
        ragd.delete_conversation(mine.id)


def test_async_client_conversations(live: dict[str, str]) -> None:
    async def main() -> None:
        async with AsyncRagdClient(live["base"], api_key=live["harbour"]) as ragd:
            doc = await ragd.add_text(SKERROW, title="Skerrow (async)")
            assert (await ragd.wait_indexed(doc.id, timeout=60)).status in ("indexed",)
            chat = await ragd.create_conversation("Lighthouses")
            first = await ragd.ask(TURNS[0][0], conversation_id=chat.id)
            assert first.conversation_id == chat.id and "1987" in first.answer
            events = [e async for e in ragd.ask_stream("Who designed it?", conversation_id=chat.id)]
            assert any(isinstance(e, Token) for e in events) and isinstance(events[-1], Done)
            streamed = events[-1].answer
            assert streamed.conversation_id == chat.id and streamed.answer_id
            assert streamed.search_query and "Skerrow Island" in streamed.search_query
            assert "Alan Brodie" in streamed.answer and streamed.citations

            detail = await ragd.get_conversation(chat.id)
            assert [t.answer_id for t in detail.turns] == [first.answer_id, streamed.answer_id]
            assert detail.turns[1].search_query == streamed.search_query
            assert detail.turns[1].answer.citations

            renamed = await ragd.rename_conversation(chat.id, "Skerrow")
            assert renamed.title == "Skerrow" and renamed.turns == 2
            shared = await ragd.share_conversation(chat.id)
            assert shared.shared and shared.owned
            page = await ragd.list_conversations(limit=1)
            assert [c.id for c in page.conversations] == [chat.id]  # latest first
            assert chat.id in [c.id async for c in ragd.iter_conversations(page_size=1)]
            verdict = await ragd.feedback(first.answer_id or "", "down", reason="wrong")
            assert verdict.rating == "down" and verdict.reason == "wrong"

        # Shared: Bob (same tenant) reads it, owned False, and still cannot ask in it.
        async with AsyncRagdClient(live["base"], api_key=live["bob"]) as bob:
            seen = await bob.get_conversation(chat.id)
            assert not seen.conversation.owned and len(seen.turns) == 2
            with pytest.raises(PermissionDeniedError):
                await bob.ask("And when was it automated?", conversation_id=chat.id)

        async with AsyncRagdClient(live["base"], api_key=live["harbour"]) as ragd:
            private = await ragd.share_conversation(chat.id, shared=False)
            assert not private.shared
            await ragd.delete_conversation(chat.id)
            with pytest.raises(NotFoundError):
                await ragd.get_conversation(chat.id)
            with pytest.raises(NotFoundError):
                await ragd.ask("And then?", conversation_id=chat.id)

    anyio.run(main)
