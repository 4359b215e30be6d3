"""GCRA, the rate-limit arithmetic both limiter adapters share.

The Generic Cell Rate Algorithm (ATM networks; the algorithm behind redis-cell and
throttled) keeps one number per budget: the *theoretical arrival time* (TAT), the instant
at which the budget would be full again. With ``interval = window / limit``:

* a hit of ``cost`` moves the TAT to ``max(TAT, now) + cost * interval``;
* it is allowed if the new TAT is at most ``window`` ahead of now (the burst tolerance:
  a full budget can be spent at once); otherwise it is refused and the TAT is unchanged;
* ``retry_after = new TAT - window - now`` (exact, no polling), ``remaining`` is how many
  intervals fit between the TAT and ``now + window``.

Why GCRA rather than a sliding window: the state is one number per key, whatever the limit
(a sliding log keeps one entry per request, so 10 000/min means up to 10 000 entries per
key), it never lets through the double burst of a fixed window at the window edge, costs
> 1 (tokens) are the same arithmetic, and the retry time is computed, not guessed. The
Redis adapter runs the same formulas in Lua; ``tests/contract/test_limiter_contract.py``
checks that both adapters agree.
"""

from __future__ import annotations

import math

from ragd.errors import InvalidRequest
from ragd.ports.limiter import Decision

EPSILON = 1e-9
"""Tolerance for float rounding (``10 * (60 / 10)`` may be ``60.000000000001``)."""


def check_arguments(limit: int, window_seconds: float, cost: int) -> None:
    """Validate ``Limiter.hit`` arguments identically in every adapter."""
    if limit < 1:
        raise InvalidRequest(f"rate limit must be at least 1 (got {limit})")
    if not window_seconds > 0 or math.isinf(window_seconds):
        raise InvalidRequest(f"rate limit window must be positive (got {window_seconds})")
    if cost < 1:
        raise InvalidRequest(f"rate limit cost must be at least 1 (got {cost})")
    if cost > limit:
        raise InvalidRequest(f"cost {cost} exceeds the limit {limit}: it could never be allowed")


def hit(
    tat: float | None, now: float, *, limit: int, window: float, cost: int
) -> tuple[Decision, float | None]:
    """One GCRA step. Returns the decision and the new TAT to store (None: unchanged)."""
    interval = window / limit
    tat = now if tat is None else max(tat, now)
    new_tat = tat + cost * interval
    allow_at = new_tat - window
    if allow_at - now > EPSILON:
        remaining = _remaining(window - (tat - now), interval)
        return Decision(False, limit, remaining, allow_at - now, tat - now), None
    remaining = _remaining(window - (new_tat - now), interval)
    return Decision(True, limit, remaining, 0.0, new_tat - now), new_tat


def _remaining(room: float, interval: float) -> int:
    return max(0, math.floor(room / interval + EPSILON))
