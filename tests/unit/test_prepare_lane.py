"""The large-document lane (``services.prepare_lane``): order, forgetting, failures, and
its thread ending when idle."""

from __future__ import annotations

import threading
import time

import pytest

from ragd.domain.models import IngestJob, JobState, TenantId, utcnow
from ragd.services import prepare_lane
from ragd.services.prepare_lane import PrepareLane
from ragd.services.scheduling import ActiveJob, BatchResult


def _job(n: int) -> IngestJob:
    now = utcnow()
    return IngestJob(
        f"job-{n}", TenantId("t"), f"doc-{n}", JobState.RUNNING, 1, None, "w", now, now, now
    )


class Preparer:
    """Records what it prepared; job-1 waits for ``go``; job-9 raises."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.seen: list[str] = []

    def __call__(self, job: IngestJob) -> tuple[ActiveJob | None, BatchResult]:
        if job.id == "job-1":
            self.go.wait(10)
        if job.id == "job-9":
            raise RuntimeError("a bug")
        self.seen.append(job.id)
        return None, BatchResult(skipped=1)


def test_jobs_come_back_in_arrival_order_and_a_forgotten_one_never() -> None:
    prep = Preparer()
    lane = PrepareLane(prep)
    for n in (1, 2, 3):
        lane.submit(_job(n))
    assert len(lane) == 3 and lane.tenants == {TenantId("t")}
    assert lane.ready() == []  # job-1 is still being prepared
    assert {j.id for j in lane.forget()} == {"job-1", "job-2", "job-3"}
    assert len(lane) == 0
    prep.go.set()
    time.sleep(0.3)
    assert lane.ready(wait=0.2) == []  # job-1 finished into the void; 2 and 3 never ran
    assert prep.seen == ["job-1"]
    lane.submit(_job(4))
    lane.submit(_job(5))
    got = lane.ready(wait=5) + lane.ready(wait=1)
    assert [p.job.id for p in got] == ["job-4", "job-5"]
    assert all(p.result is not None and p.result.skipped == 1 for p in got)
    assert len(lane) == 0


def test_a_preparation_that_raises_gives_the_job_back_to_its_lease() -> None:
    lane = PrepareLane(Preparer())
    lane.submit(_job(9))
    [p] = lane.ready(wait=5)
    assert p.job.id == "job-9" and p.active is None and p.result is None
    assert len(lane) == 0


def test_the_thread_ends_when_idle_and_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare_lane, "IDLE_EXIT_S", 0.1)
    prep = Preparer()
    lane = PrepareLane(prep)
    lane.submit(_job(2))
    assert len(lane.ready(wait=5)) == 1
    deadline = time.monotonic() + 5
    while lane._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lane._thread is None
    lane.submit(_job(3))
    assert [p.job.id for p in lane.ready(wait=5)] == ["job-3"]
