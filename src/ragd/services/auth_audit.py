"""Failed authentications in the audit log, aggregated so a stranger cannot grow it.

Every failure used to be one audit row: a flood of guesses was a flood of inserts and a log
that grew without bound. Failures are now grouped per (tenant, client address, key prefix,
outcome) and per minute:

- the first failure of a group in a minute is written at once, as before (with its request
  id, reason and address), so an admin sees an attack as it starts;
- the rest of that minute are counted, and one summary row (``detail.repeated``, the
  reasons and the window) is written when the minute is over;
- at most ``MAX_GROUPS`` groups per minute: failures beyond them fold into one summary row
  per outcome in the ``_unknown`` tenant (``detail.overflow``).

So a minute adds at most ``2 * MAX_GROUPS + 4`` rows per process, whatever the attacker
varies. A failure whose key prefix names a real key is audited in that key's tenant (its
admins should know their key is being guessed); one that names no tenant (an unknown or
malformed key, a bearer token that fails verification) goes to ``UNKNOWN_TENANT``, which
platform admins read with ``GET /admin/audit?tenant_id=_unknown``.

Summaries are written by the next authentication after the minute ends (any request's, so
under traffic within a minute) and by ``flush`` when the process stops.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ragd.domain.models import TenantId
from ragd.ports.audit import Audit

UNKNOWN_TENANT = TenantId("_unknown")
"""Where failures that name no tenant are audited (no real tenant id starts with ``_``)."""
WINDOW_SECONDS = 60
MAX_GROUPS = 32
MAX_REASONS = 8
ACTION = "auth.failure"


@dataclass(frozen=True)
class Failure:
    """One failed authentication, as much as is known of who tried what."""

    tenant: TenantId | None
    client: str | None
    prefix: str | None
    method: str
    outcome: str
    reason: str
    resource: str | None = None
    request_id: str | None = None


@dataclass
class _Group:
    tenant: TenantId
    client: str | None
    prefix: str | None
    method: str
    outcome: str
    overflow: bool = False
    repeated: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class FailureAudit:
    """Thread-safe; rows are written outside the lock."""

    def __init__(
        self,
        audit: Audit,
        *,
        window_seconds: int = WINDOW_SECONDS,
        max_groups: int = MAX_GROUPS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audit = audit
        self._window_seconds = window_seconds
        self._max_groups = max_groups
        self._clock = clock
        self._lock = threading.Lock()
        self._window = self._window_of(clock())
        self._groups: dict[tuple[Any, ...], _Group] = {}

    def record(self, failure: Failure) -> None:
        tenant = failure.tenant or UNKNOWN_TENANT
        key = (tenant, failure.client, failure.prefix, failure.outcome)
        first = False
        with self._lock:
            due = self._roll(self._clock())
            group = self._groups.get(key)
            if group is None and len(self._groups) < self._max_groups:
                group = _Group(
                    tenant, failure.client, failure.prefix, failure.method, failure.outcome
                )
                self._groups[key] = group
                first = True
            elif group is None:
                group = self._groups.setdefault(
                    ("overflow", failure.outcome),
                    _Group(UNKNOWN_TENANT, None, None, "any", failure.outcome, overflow=True),
                )
            if not first:
                group.repeated += 1
                if failure.reason in group.reasons or len(group.reasons) < MAX_REASONS:
                    group.reasons[failure.reason] += 1
        self._write(due)
        if first:
            self._audit.record(
                tenant,
                user_id=None,
                action=ACTION,
                resource=failure.resource,
                outcome=failure.outcome,
                client_ip=failure.client,
                request_id=failure.request_id,
                detail=_detail(failure.method, failure.prefix, reason=failure.reason),
            )

    def tick(self) -> None:
        """Write the summaries of a minute that is over (cheap when none is)."""
        if self._window_of(self._clock()) == self._window:
            return
        with self._lock:
            due = self._roll(self._clock())
        self._write(due)

    def flush(self) -> None:
        """Write the current minute's summaries now (the process is stopping)."""
        with self._lock:
            due = self._summaries()
            self._groups = {}
        self._write(due)

    def _window_of(self, now: float) -> int:
        return int(now // self._window_seconds)

    def _roll(self, now: float) -> list[tuple[_Group, int]]:
        window = self._window_of(now)
        if window == self._window:
            return []
        due = self._summaries()
        self._window, self._groups = window, {}
        return due

    def _summaries(self) -> list[tuple[_Group, int]]:
        return [(g, self._window) for g in self._groups.values() if g.repeated]

    def _write(self, due: list[tuple[_Group, int]]) -> None:
        for group, window in due:
            start = datetime.fromtimestamp(window * self._window_seconds, UTC)
            detail = _detail(
                group.method,
                group.prefix,
                repeated=group.repeated,
                reasons=dict(group.reasons),
                window_start=start.isoformat(),
                window_seconds=self._window_seconds,
            )
            if group.overflow:
                detail["overflow"] = True
            self._audit.record(
                group.tenant,
                user_id=None,
                action=ACTION,
                resource=None,
                outcome=group.outcome,
                client_ip=group.client,
                request_id=None,
                detail=detail,
            )


def _detail(method: str, prefix: str | None, **more: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {"method": method, **more}
    if prefix:
        detail["prefix"] = prefix
    return detail
