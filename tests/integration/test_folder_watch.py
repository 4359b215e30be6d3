"""The folder watcher on real files (``WatchfilesWatcher``) and the service that turns its
reports into due sources (``SourceWatch``) on a real SQLite Store: changes the scan would
not see are ignored, a vanished folder is reported once and watched again when it is back,
a change during a run in progress makes the source due again once that run ends (never a
second run beside it), and the watches are bounded and shared across tenants."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ragd.adapters.sources.folder_watch import WatchfilesWatcher, counts
from ragd.domain.models import TenantId, utcnow
from ragd.domain.sources import SyncCounts
from ragd.ports.sources import SourceStore
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.source_watch import SourceWatch, fair_pick
from tests.conftest import make_settings

A, B = TenantId("fw-a"), TenantId("fw-b")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def watcher() -> Iterator[WatchfilesWatcher]:
    w = WatchfilesWatcher(debounce_ms=100, retry_seconds=0.3)
    yield w
    w.close()


def collect(w: WatchfilesWatcher, seconds: float) -> set[str]:
    """Every key reported within ``seconds``."""
    seen: set[str] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen |= set(w.changed())
        time.sleep(0.05)
    return seen


def test_changes_the_scan_would_not_see_are_ignored(
    watcher: WatchfilesWatcher, tmp_path: Path
) -> None:
    root = tmp_path / "kb"
    (root / ".git").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "out").symlink_to(outside)
    assert watcher.watch({"k": str(root)}) == {}
    time.sleep(0.3)
    (root / ".hidden.txt").write_text("x")
    (root / ".git" / "HEAD").write_text("x")
    (outside / "x.txt").write_text("x")  # through a link out of the folder
    assert collect(watcher, 1.0) == set()
    (root / "seen.txt").write_text("x")
    assert wait_for("a visible file reported", lambda: watcher.changed()).keys() == {"k"}
    assert counts(root, str(root))  # the folder itself (deleted)
    assert not counts(root, str(tmp_path / "elsewhere.txt"))


def test_a_vanished_folder_is_reported_once_and_watched_again(
    watcher: WatchfilesWatcher, tmp_path: Path
) -> None:
    root = tmp_path / "kb"
    root.mkdir()
    assert watcher.watch({"k": str(root)}) == {}
    shutil.rmtree(root)
    wait_for("the deletion reported", lambda: "k" in watcher.changed())
    reason = wait_for("the watch failed", lambda: watcher.watch({"k": str(root)}).get("k"))
    assert "not found" in reason or "cannot watch" in reason
    time.sleep(0.4)
    assert "not found" in watcher.watch({"k": str(root)})["k"]  # tried again: still gone
    assert collect(watcher, 0.3) == set()  # reported once, not on every try
    root.mkdir()
    time.sleep(0.4)
    assert watcher.watch({"k": str(root)}) == {}  # back: watched again, and a run catches up
    assert "k" in watcher.changed()
    time.sleep(0.3)
    (root / "new.txt").write_text("x")
    wait_for("a change in the recreated folder", lambda: "k" in watcher.changed())


def test_a_missing_or_unreadable_folder_is_not_watched(
    watcher: WatchfilesWatcher, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    errors = watcher.watch(
        {"gone": str(tmp_path / "nope"), "file": str(a_file), "locked": str(locked)}
    )
    assert "not found" in errors["gone"] and "not a folder" in errors["file"]
    assert set(watcher.changed()) >= {"gone", "file"}  # once: their runs say why
    if os.geteuid() != 0:  # root reads any folder
        os.chmod(locked, 0)
        try:
            assert "permission denied" in watcher.watch({"locked": str(locked)})["locked"]
        finally:
            os.chmod(locked, 0o755)
    assert watcher.watch({}) == {}  # dropped: nothing left to retry
    rooted = WatchfilesWatcher(debounce_ms=100, roots=[str(tmp_path / "share")])
    try:  # the roots may have shrunk since the source was saved
        assert "outside the allowed roots" in rooted.watch({"k": str(locked)})["k"]
    finally:
        rooted.close()


def test_fair_pick_shares_the_watches_across_tenants() -> None:
    folders = [(A, f"a{i}", f"/a{i}") for i in range(5)] + [(B, "b0", "/b0")]
    assert [sid for _, sid, _ in fair_pick(folders, 3)] == ["a0", "b0", "a1"]
    assert len(fair_pick(folders, 100)) == 6
    assert fair_pick(folders, 0) == []


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    (tmp_path / "share").mkdir()
    settings = make_settings(tmp_path / "data", sources_folder_roots=str(tmp_path / "share"))
    migrate_database(settings)
    services = build_services(settings)
    yield services
    services.close()


def test_a_change_during_a_run_makes_the_source_due_once_the_run_ends(
    svc: Services, watcher: WatchfilesWatcher, tmp_path: Path
) -> None:
    assert svc.sources is not None
    folder = tmp_path / "share" / "kb"
    folder.mkdir()
    src = svc.sources.create(A, name="kb", kind="folder", config={"path": str(folder)})
    store: SourceStore = svc.sources.sources
    later = utcnow() + timedelta(hours=1)
    store.update(A, src.id, next_run_at=later)  # the schedule is an hour away
    watch = SourceWatch(store, watcher, max_folders=8)
    assert watch.tick() == 0 and watch.watched == 1
    # A run in progress (another worker's); a file is written while it lists the folder.
    assert store.start_run(A, src.id, "elsewhere", lease_seconds=60, now=utcnow())
    time.sleep(0.3)
    (folder / "during.txt").write_text("x")
    time.sleep(0.6)  # reported by now (debounce 0.1 s)
    assert watch.tick() == 0  # not doubled: the run in progress holds the source
    assert store.get(A, src.id).next_run_at == later
    store.finish_run(
        A, src.id, "elsewhere", outcome="success", counts=SyncCounts(), error=None,
        next_run_at=later, now=utcnow(),
    )  # fmt: skip
    assert watch.tick() == 1  # the run began before the change: another one is due now
    due = store.get(A, src.id).next_run_at
    assert due is not None and due <= utcnow()
    assert watch.tick() == 0  # due already: asked once
    assert store.start_run(A, src.id, "w", lease_seconds=60, now=utcnow())
    assert watch.tick() == 0 and watch._pending == {}  # a run after the change: done


def test_the_watches_are_bounded_and_follow_the_sources(
    svc: Services, watcher: WatchfilesWatcher, tmp_path: Path
) -> None:
    assert svc.sources is not None
    made = []
    for tenant, name in ((A, "a1"), (A, "a2"), (A, "a3"), (B, "b1")):
        folder = tmp_path / "share" / name
        folder.mkdir()
        made.append(
            svc.sources.create(tenant, name=name, kind="folder", config={"path": str(folder)})
        )
    watch = SourceWatch(svc.sources.sources, watcher, max_folders=2)
    watch.tick()
    assert set(watcher._watches) == {made[0].id, made[3].id}  # one per tenant first
    svc.sources.update(B, made[3].id, enabled=False)
    watch.tick()
    assert set(watcher._watches) == {made[0].id, made[1].id}
    svc.sources.remove(A, made[0].id)
    watch.tick()
    assert set(watcher._watches) == {made[1].id, made[2].id}
