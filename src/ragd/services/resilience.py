"""Resilience for model providers: retries, a circuit breaker per dependency, fallback.

``ResilientLLM`` is itself an LLM (the port), wrapping a chain of providers, for example
OpenAI → Anthropic → extractive. For each provider in turn:

* its circuit breaker is asked first: while open (after ``failure_threshold`` consecutive
  failures) the provider is skipped without a call, for ``reset_seconds``; then one trial
  call is let through (half-open): success closes it, failure opens it again;
* retryable failures (``BackendUnavailable``: 429, 5xx, timeouts) are retried with
  exponential backoff and jitter (tenacity) while the attempt budget and the overall
  deadline allow; other errors (bad key, unknown model) are not retried;
* when the provider gives up, the next one in the chain answers.

A streamed answer can fall back only before its first token: after that the caller has
text, and a failure is raised rather than silently restarted elsewhere. The breaker state
of every dependency is exported as ``genai_circuit_breaker_state{dependency}``
(0 closed, 1 open, 2 half-open).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from ragd.errors import BackendUnavailable, RagdError
from ragd.observability import metrics
from ragd.ports.llm import LLM, Completion, GenerationRequest

log = logging.getLogger("ragd.resilience")
T = TypeVar("T")


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitOpen(BackendUnavailable):
    code = "circuit_open"


class CircuitBreaker:
    def __init__(
        self,
        dependency: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self._lock = threading.Lock()
        self._export()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def acquire(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go through now."""
        with self._lock:
            self._maybe_half_open()
            if self._state == BreakerState.OPEN:
                raise CircuitOpen(f"{self.dependency}: circuit open")
            if self._state == BreakerState.HALF_OPEN:
                if self._trial_running:
                    raise CircuitOpen(f"{self.dependency}: circuit half-open, trial running")
                self._trial_running = True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_running = False
            if self._state != BreakerState.CLOSED:
                log.info("circuit closed: %s", self.dependency)
            self._state = BreakerState.CLOSED
            self._export()

    def failure(self) -> None:
        with self._lock:
            self._trial_running = False
            self._failures += 1
            if self._state == BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                if self._state != BreakerState.OPEN:
                    log.warning(
                        "circuit open: %s after %d failures", self.dependency, self._failures
                    )
                self._state = BreakerState.OPEN
                self._opened_at = self.clock()
            self._export()

    def _maybe_half_open(self) -> None:
        if (
            self._state == BreakerState.OPEN
            and self.clock() - self._opened_at >= self.reset_seconds
        ):
            self._state = BreakerState.HALF_OPEN
            self._export()

    def _export(self) -> None:
        metrics.CIRCUIT_BREAKER_STATE.labels(self.dependency).set(int(self._state))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    """Attempts per provider (1 = no retry)."""
    deadline_seconds: float = 30.0
    """Give up on a provider once this much time has been spent on it."""
    backoff_seconds: float = 0.2
    backoff_max_seconds: float = 2.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RagdError) and exc.retryable and not isinstance(exc, CircuitOpen)


class ResilientLLM:
    def __init__(
        self,
        chain: Sequence[tuple[LLM, CircuitBreaker]],
        retry: RetryPolicy,
    ) -> None:
        if not chain:
            raise ValueError("a fallback chain needs at least one LLM")
        self.chain = list(chain)
        self.retry = retry

    @property
    def model(self) -> str:
        return self.chain[0][0].model

    @property
    def context_window(self) -> int:
        return min(llm.context_window for llm, _ in self.chain)

    def count_tokens(self, text: str) -> int:
        return self.chain[0][0].count_tokens(text)

    def complete(self, request: GenerationRequest) -> Completion:
        def call(llm: LLM) -> Completion:
            return llm.complete(request)

        return self._first_that_answers(call)

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        errors: list[str] = []
        for llm, breaker in self.chain:
            try:
                breaker.acquire()
            except CircuitOpen as exc:
                errors.append(str(exc))
                continue
            started = False
            try:
                for piece in llm.stream(request):
                    started = True
                    yield piece
                breaker.success()
                return
            except RagdError as exc:
                breaker.failure()
                if started:
                    raise
                errors.append(f"{breaker.dependency}: {exc}")
                metrics.FALLBACKS.labels(breaker.dependency).inc()
        raise BackendUnavailable("no LLM could answer: " + "; ".join(errors))

    def _first_that_answers(self, call: Callable[[LLM], T]) -> T:
        errors: list[str] = []
        for llm, breaker in self.chain:
            try:
                return self._with_retries(llm, breaker, call)
            except RagdError as exc:
                errors.append(f"{breaker.dependency}: {exc}")
                metrics.FALLBACKS.labels(breaker.dependency).inc()
        raise BackendUnavailable("no LLM could answer: " + "; ".join(errors))

    def _with_retries(self, llm: LLM, breaker: CircuitBreaker, call: Callable[[LLM], T]) -> T:
        policy = self.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.deadline_seconds),
            wait=wait_random_exponential(
                multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    breaker.acquire()
                    try:
                        result = call(llm)
                    except RagdError:
                        breaker.failure()
                        raise
                    breaker.success()
                    return result
        except RetryError as exc:  # pragma: no cover - reraise=True re-raises the cause
            raise BackendUnavailable(str(exc)) from exc
        raise BackendUnavailable(f"{breaker.dependency}: no attempt made")  # pragma: no cover
