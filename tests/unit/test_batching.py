"""The coalescer that shares one batched call among concurrent callers (real threads)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from ragd.adapters.batching import Coalescer

WAIT = 10.0


class GatedBatch:
    """A batch function whose first run blocks until released, so callers pile up."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [s.upper() for s in items]


def queued(co: Coalescer[str, str], key: object, count: int) -> None:
    """Wait until ``count`` callers wait behind the running batch of ``key``."""
    for _ in range(1000):
        with co._lock:
            if len(co._queues.get(key, [])) >= count:
                return
        threading.Event().wait(0.005)
    raise AssertionError(f"{count} callers never queued")


def test_a_lone_call_runs_at_once_as_a_batch_of_one() -> None:
    co: Coalescer[str, str] = Coalescer()
    seen: list[list[str]] = []

    def batch(items: Sequence[str]) -> list[str]:
        seen.append(list(items))
        return [s * 2 for s in items]

    assert co.run("k", "ab", batch) == "abab"
    assert co.run("k", "c", batch) == "cc"
    assert seen == [["ab"], ["c"]]
    assert (co.batches, co.items) == (2, 2)


def test_callers_arriving_during_a_batch_share_the_next_one() -> None:
    co: Coalescer[str, str] = Coalescer()
    batch = GatedBatch()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(co.run, "k", "a", batch)
        assert batch.started.wait(WAIT)
        rest = {s: pool.submit(co.run, "k", s, batch) for s in "bcdefg"}
        queued(co, "k", 6)
        batch.release.set()
        assert first.result(WAIT) == "A"
        assert {s: f.result(WAIT) for s, f in rest.items()} == {s: s.upper() for s in "bcdefg"}
    assert batch.calls[0] == ["a"]
    assert sorted(batch.calls[1]) == list("bcdefg")  # one batch for everyone who waited
    assert (co.batches, co.items) == (2, 7)


def test_batches_hold_at_most_max_batch_items() -> None:
    co: Coalescer[str, str] = Coalescer(max_batch=3)
    batch = GatedBatch()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(co.run, "k", "a", batch)
        assert batch.started.wait(WAIT)
        rest = [pool.submit(co.run, "k", s, batch) for s in "bcdefg"]
        queued(co, "k", 6)
        batch.release.set()
        assert first.result(WAIT) == "A"
        assert sorted(f.result(WAIT) for f in rest) == list("BCDEFG")
    assert [len(c) for c in batch.calls] == [1, 3, 3]


def test_an_error_reaches_the_callers_of_its_batch_only() -> None:
    co: Coalescer[str, str] = Coalescer(max_batch=2)
    batch = GatedBatch(fail_on="c")
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(co.run, "k", "a", batch)
        assert batch.started.wait(WAIT)
        b = pool.submit(co.run, "k", "b", batch)
        queued(co, "k", 1)
        c = pool.submit(co.run, "k", "c", batch)
        queued(co, "k", 2)
        d = pool.submit(co.run, "k", "d", batch)
        queued(co, "k", 3)
        batch.release.set()
        assert first.result(WAIT) == "A"
        with pytest.raises(ValueError, match="bad item c"):
            b.result(WAIT)  # shares the batch with c
        with pytest.raises(ValueError, match="bad item c"):
            c.result(WAIT)
        assert d.result(WAIT) == "D"
    assert batch.calls == [["a"], ["b", "c"], ["d"]]
    assert co.run("k", "e", batch) == "E"  # the coalescer is not left stuck


def test_a_batch_that_returns_the_wrong_count_fails_its_callers() -> None:
    co: Coalescer[str, str] = Coalescer()
    with pytest.raises(RuntimeError, match="0 results for 1"):
        co.run("k", "a", lambda items: [])
    assert co.run("k", "b", lambda items: [s + "!" for s in items]) == "b!"


def test_different_keys_never_share_a_batch() -> None:
    co: Coalescer[str, str] = Coalescer()
    gated = GatedBatch()
    other: list[list[str]] = []

    def plain(items: Sequence[str]) -> list[str]:
        other.append(list(items))
        return list(items)

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(co.run, "k1", "a", gated)
        assert gated.started.wait(WAIT)
        # k2 is not held up by k1's running batch.
        assert pool.submit(co.run, "k2", "x", plain).result(WAIT) == "x"
        gated.release.set()
        assert first.result(WAIT) == "A"
    assert other == [["x"]]


def test_many_threads_each_get_their_own_result() -> None:
    co: Coalescer[int, int] = Coalescer(max_batch=5)

    def square(items: Sequence[int]) -> list[int]:
        return [i * i for i in items]

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda i: co.run("k", i, square), range(400)))
    assert got == [i * i for i in range(400)]
    assert co.items == 400
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(max_batch=0)
