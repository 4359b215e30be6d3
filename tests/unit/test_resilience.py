"""Circuit breaker states and transitions, with an injected clock."""

from __future__ import annotations

import pytest

from ragd.services.resilience import BreakerState, CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_half_opens_and_closes_on_success() -> None:
    clock = Clock()
    b = CircuitBreaker("dep-a", failure_threshold=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        b.acquire()
        b.failure()
    assert b.state == BreakerState.CLOSED
    b.acquire()
    b.failure()
    assert b.state == BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        b.acquire()
    clock.now = 10
    assert b.state == BreakerState.HALF_OPEN
    b.acquire()  # the one trial call
    with pytest.raises(CircuitOpen):
        b.acquire()  # no second caller while the trial runs
    b.success()
    assert b.state == BreakerState.CLOSED
    b.acquire()


def test_failed_trial_reopens_and_success_resets_the_count() -> None:
    clock = Clock()
    b = CircuitBreaker("dep-b", failure_threshold=2, reset_seconds=5, clock=clock)
    b.failure()
    b.success()
    b.failure()
    assert b.state == BreakerState.CLOSED  # success in between reset the count
    b.failure()
    assert b.state == BreakerState.OPEN
    clock.now = 5
    b.acquire()
    b.failure()
    assert b.state == BreakerState.OPEN
    clock.now = 9
    with pytest.raises(CircuitOpen):
        b.acquire()


def test_state_is_exported_per_dependency() -> None:
    from prometheus_client import REGISTRY

    clock = Clock()
    b = CircuitBreaker("dep-metrics", failure_threshold=1, reset_seconds=1, clock=clock)

    def value() -> float | None:
        return REGISTRY.get_sample_value(
            "genai_circuit_breaker_state", {"dependency": "dep-metrics"}
        )

    assert value() == 0
    b.failure()
    assert value() == 1
    clock.now = 1
    assert b.state == BreakerState.HALF_OPEN and value() == 2
