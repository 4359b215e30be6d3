"""The parts behind the flood test, each on its own with a controlled clock: failure
budgets, the negative cache, bounded key checks, and the aggregated audit of failures."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ragd.adapters.limiter.memory import MemoryLimiter
from ragd.domain.models import TenantId
from ragd.errors import Overloaded, RateLimited
from ragd.services.auth_audit import MAX_GROUPS, UNKNOWN_TENANT, Failure, FailureAudit
from ragd.services.auth_guard import AuthGuard, GuardLimits
from ragd.services.container import Services


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_failure_budgets_block_an_address_and_a_prefix_until_they_refill() -> None:
    clock = Clock()
    guard = AuthGuard(
        MemoryLimiter(clock=clock),
        GuardLimits(failures_per_address=3, failures_per_prefix=5, concurrent_checks=1),
        clock=clock,
    )
    for _ in range(4):  # the fourth spend is refused: the address is blocked from now on
        guard.check_allowed("10.0.0.1", "abc")
        guard.failed("10.0.0.1", "abc")
    with pytest.raises(RateLimited) as blocked:
        guard.check_allowed("10.0.0.1", "other")
    assert 0 < blocked.value.retry_after_seconds <= 20
    guard.check_allowed("10.0.0.2", "other")  # other addresses and prefixes are not
    for address in ("10.0.0.2", "10.0.0.3"):  # the prefix's own budget, across addresses
        guard.failed(address, "abc")
    with pytest.raises(RateLimited):
        guard.check_allowed("10.0.0.9", "abc")
    clock.now += 60
    guard.check_allowed("10.0.0.1", "abc")


def test_wrong_secrets_are_remembered_and_checks_are_bounded() -> None:
    guard = AuthGuard(MemoryLimiter(), GuardLimits(concurrent_checks=1))
    digest = b"\x01" * 32
    assert not guard.known_wrong(digest)
    guard.remember_wrong(digest)
    assert guard.known_wrong(digest)
    started, release = threading.Event(), threading.Event()

    def slow() -> bool:
        started.set()
        release.wait(10)
        return True

    worker = threading.Thread(target=guard.check, args=(slow,))
    worker.start()
    assert started.wait(10)
    with pytest.raises(Overloaded):
        guard.check(lambda: True)
    release.set()
    worker.join(10)
    assert guard.check(lambda: False) is False
    guard.close()


def _rows(services: Services, tenant: str) -> list[Any]:
    return services.audit.entries(TenantId(tenant), action="auth.failure", limit=1000)


def test_failed_authentications_are_aggregated_within_a_bound(services: Services) -> None:
    """Before: one row per failure, so 5,000 failures were 5,000 rows."""
    services.account_admin.create_tenant("acme")
    clock = Clock(60.0 * 1_000_000)
    log = FailureAudit(services.audit, clock=clock)
    attempts = 5000
    for i in range(attempts):
        tenant = TenantId("acme") if i % 2 else None  # a real prefix, or none
        address = f"10.0.{i % 200}.1"  # 200 addresses: more groups than allowed
        outcome = "denied" if i % 3 else "throttled"
        log.record(Failure(tenant, address, "abc" if tenant else None, "api_key", outcome, "no"))
    written = _rows(services, "acme") + _rows(services, UNKNOWN_TENANT)
    assert len(written) == MAX_GROUPS  # the first of each group, at once
    clock.now += 60  # the minute is over: its summaries are due
    log.tick()
    rows = _rows(services, "acme") + _rows(services, UNKNOWN_TENANT)
    assert len(rows) <= 2 * MAX_GROUPS + 4
    assert sum(r.detail.get("repeated", 1) for r in rows) == attempts  # every one counted
    overflow = [r for r in rows if r.detail.get("overflow")]
    assert overflow and all(r.tenant_id == UNKNOWN_TENANT for r in overflow)
    log.record(Failure(None, "10.9.9.9", None, "bearer", "denied", "late"))
    log.flush()  # shutdown: the new minute's group has no repeats, nothing more to write
    assert len(_rows(services, UNKNOWN_TENANT) + _rows(services, "acme")) == len(rows) + 1
