"""The worker's source scheduler on a real Store: one tenant's several due sources do not
go before another tenant's first; a run in progress holds its source; metrics count runs."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from ragd.domain.models import TenantId, utcnow
from ragd.observability import metrics
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.source_schedule import SourceScheduler
from tests.conftest import make_settings


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    for name in ("a1", "a2", "a3", "b1"):
        (tmp_path / "roots" / name).mkdir(parents=True)
        (tmp_path / "roots" / name / "doc.txt").write_text(f"document of {name}")
    settings = make_settings(tmp_path / "data", sources_folder_roots=str(tmp_path / "roots"))
    migrate_database(settings)
    services = build_services(settings)
    yield services
    services.close()


def test_a_tenant_with_no_run_goes_first(svc: Services, tmp_path: Path) -> None:
    assert svc.sources is not None and svc.source_sync is not None
    a, b = TenantId("sched-a"), TenantId("sched-b")
    made = {}
    for tenant, name in ((a, "a1"), (a, "a2"), (a, "a3"), (b, "b1")):
        made[name] = svc.sources.create(
            tenant, name=name, kind="folder", config={"path": str(tmp_path / "roots" / name)}
        )
    # a's sources have waited longest; b's is due last.
    store = svc.sources.sources
    now = utcnow()
    for i, name in enumerate(("a1", "a2", "a3", "b1")):
        store.update(
            made[name].tenant_id, made[name].id, next_run_at=now - timedelta(minutes=10 - i)
        )

    before = metrics.SOURCE_SYNC_RUNS.labels(kind="folder", outcome="success")._value.get()
    scheduler = SourceScheduler(svc.source_sync, store, concurrency=2, owner="sched-test")
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert scheduler.tick(pool, lambda: False) == 2
    started = {n for n, s in made.items() if store.get(s.tenant_id, s.id).run_number == 1}
    assert started == {"a1", "b1"}  # not a2, although it was due before b1
    after = metrics.SOURCE_SYNC_RUNS.labels(kind="folder", outcome="success")._value.get()
    assert after - before == 2

    # A run in progress holds its source: it is not started twice.
    lease = store.start_run(a, made["a2"].id, "elsewhere", lease_seconds=60, now=utcnow())
    assert lease is not None
    with ThreadPoolExecutor(max_workers=2) as pool:
        scheduler.tick(pool, lambda: False)
    assert store.get(a, made["a2"].id).run_number == 1  # still the other holder's run
    assert store.get(a, made["a3"].id).run_number == 1  # a3 ran (a is busy, nobody else due)
