"""Coalescing of concurrent calls into one batched call (leader/follower, no timer).

Why: on a 2-core server the dense scan of a large tenant is bound by memory bandwidth
(100k x 384 float32 is 154 MB read per query) and a query embedding is a model call with a
fixed cost per run. Eight concurrent searches doing eight scans, or eight one-text model
runs, pay that cost eight times; one matrix product or one padded batch pays it about
once. A thread that finds no batch running runs its own at once (a lone request never
waits for a window); threads that arrive while a batch runs queue up, and when it ends
the first of them runs everything queued as the next batch. So batches form exactly when
there is load, and a caller waits at most for the batch running when it arrived plus its
own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Rows(Protocol[R_co]):
    """What a batch returns: one result per item, by position (a list, a numpy array)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> R_co: ...


_WAITING, _DONE, _LEAD = 0, 1, 2


class _Ask(Generic[T, R]):
    __slots__ = ("error", "event", "item", "result", "state")

    def __init__(self, item: T) -> None:
        self.item = item
        self.state = _WAITING
        self.result: R | None = None
        self.error: BaseException | None = None
        self.event = threading.Event()


class Coalescer(Generic[T, R]):
    """Runs ``batch(items)`` for the calls of ``run(key, item, batch)`` that overlap.

    Calls with the same ``key`` may share a batch (the key names what the batch reads:
    one index snapshot, one model); ``batch`` gets at most ``max_batch`` items and must
    return one result per item, in order. An exception in ``batch`` reaches every caller
    of that batch and no other.
    """

    def __init__(self, max_batch: int = 32) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Ask[T, R]]] = {}
        self._running: set[Hashable] = set()
        self.batches = 0
        """Batches run so far (read by tests and benchmarks)."""
        self.items = 0

    def run(self, key: Hashable, item: T, batch: Callable[[Sequence[T]], Rows[R]]) -> R:
        ask: _Ask[T, R] = _Ask(item)
        with self._lock:
            self._queues.setdefault(key, []).append(ask)
            if key in self._running:
                lead = False
            else:
                self._running.add(key)
                lead = True
        if not lead:
            ask.event.wait()
            if ask.state == _DONE:
                if ask.error is not None:
                    raise ask.error
                return ask.result  # type: ignore[return-value]
        self._lead(key, batch)  # first caller, or promoted by the batch before
        if ask.error is not None:
            raise ask.error
        return ask.result  # type: ignore[return-value]

    def _lead(self, key: Hashable, batch: Callable[[Sequence[T]], Rows[R]]) -> None:
        with self._lock:
            queue = self._queues[key]
            asks, rest = queue[: self.max_batch], queue[self.max_batch :]
            self._queues[key] = rest
        try:
            results = batch([a.item for a in asks])
            if len(results) != len(asks):
                raise RuntimeError(f"batch returned {len(results)} results for {len(asks)}")
            for i, a in enumerate(asks):
                a.result = results[i]
        except BaseException as exc:  # handed to each caller of this batch
            for a in asks:
                a.error = exc
        with self._lock:
            self.batches += 1
            self.items += len(asks)
            queue = self._queues[key]
            nxt = queue[0] if queue else None
            if nxt is None:
                del self._queues[key]
                self._running.discard(key)
            else:
                nxt.state = _LEAD  # stays queued: it takes the queue when it wakes
        for a in asks:
            a.state = _DONE
            a.event.set()
        if nxt is not None:
            nxt.event.set()
