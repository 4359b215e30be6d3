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
    RagdClient,
    RateLimitError,
    RetryPolicy,
    Token,
    UnsupportedMediaTypeError,
    ValidationError,
)

from tests.live import Server

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
    server = Server(env, data / "serve.log")
    try:
        r = httpx.put(
            f"{server.base}/admin/tenants/slow/limits",
            json={"rate_limit_rpm": 20},
            headers={"X-API-Key": admin},
        )
        assert r.status_code == 200, r.text
        yield {"base": server.base, "acme": acme, "slow": slow, "dir": str(data)}
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
