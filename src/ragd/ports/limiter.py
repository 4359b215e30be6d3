"""Limiter port: per-tenant, per-key request and token budgets.

A budget is "``limit`` units per ``window_seconds``", for example 60 requests a minute for
one API key, or 100 000 LLM tokens a minute for one tenant. The caller picks the key (an
API key id, a user, a route) and the cost of each call (1 per request, or the tokens it
will use), so one port covers both request rates and token budgets.

The tenant is an explicit argument, like on every port, so that two tenants can never share
a budget by accident (same key name, different tenant: independent budgets).

Limits and windows are arguments of every call, not adapter settings: they may differ per
tenant plan or route, and changing them must not need a new adapter.

Adapters never raise on a backend outage: a rate limiter that fails requests because its
own store is down would turn a Redis hiccup into a full outage. They decide instead, per
configuration, to let the call through (fail-open, the default) or to refuse it
(fail-closed), and count the outage in ``ragd_limiter_errors_total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ragd.domain.models import TenantId


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one ``hit``; carries what an HTTP layer needs for its headers.

    Attributes:
        allowed: Whether the call may proceed. A refused call costs nothing.
        limit: The budget the call was checked against (``RateLimit-Limit``).
        remaining: Units that could still be spent right now, after this call
            (``RateLimit-Remaining``). On a refusal: what is left, which is less than the cost.
        retry_after_seconds: 0 when allowed; otherwise the wait after which the same call
            would be allowed, if nobody else spends the budget meanwhile (``Retry-After``).
        reset_after_seconds: Time until the whole budget is available again
            (``RateLimit-Reset``).
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: float
    reset_after_seconds: float


class Limiter(Protocol):
    """A shared budget per (tenant, key); thread-safe; never raises on a backend outage."""

    def hit(
        self, tenant: TenantId, key: str, *, limit: int, window_seconds: float, cost: int = 1
    ) -> Decision:
        """Spend ``cost`` units of the (tenant, key) budget if they are available.

        The budget refills continuously: ``limit`` units per ``window_seconds``, up to
        ``limit`` at once. A full budget can be spent in one burst; after that, one unit
        comes back every ``window_seconds / limit`` seconds. So "10 per minute" allows 10
        calls at once and then one every 6 s, never more than 10 in any 60 s, and never the
        20-at-the-window-edge burst of a fixed-window counter.

        Raises:
            InvalidRequest: ``limit`` < 1, ``window_seconds`` <= 0, ``cost`` < 1, or
                ``cost`` > ``limit`` (a call that could never be allowed is a caller bug,
                not a rate limit).
        """
        ...
