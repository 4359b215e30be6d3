"""Watched folder sources, on real files, a real SQLite Store and the real worker loop: with
a schedule an hour away only the watcher can start a run, so a file written, changed or
deleted that shows in the index within seconds was synced because it changed. A burst of
writes gives a few runs, not one per file; with ``RAGD_SOURCES_WATCH=false`` nothing runs
until the schedule; a watched folder deleted is a failed run in the source's status, and
the worker goes on."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ragd.domain.models import DocumentStatus, TenantId, utcnow
from ragd.domain.sources import Source
from ragd.services.container import Services, build_services, migrate_database
from ragd.worker import Worker, build_worker
from tests.conftest import make_settings

T = TenantId("watch-tenant")
OTHER = TenantId("watch-other")
WAIT_S = 20.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def make(tmp_path: Path, **overrides: object) -> Services:
    settings = make_settings(
        tmp_path / "data",
        sources_folder_roots=str(tmp_path / "share"),
        sources_watch_debounce_ms=200,
        **overrides,
    )
    migrate_database(settings)
    return build_services(settings)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    (tmp_path / "share" / "kb").mkdir(parents=True)
    services = make(tmp_path)
    yield services
    services.close()


class Running:
    """The worker (ingestion + sources + watcher) on a thread, as ``ragd worker`` runs it."""

    def __init__(self, svc: Services) -> None:
        self.worker: Worker = build_worker(svc, sources=True)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def add_source(svc: Services, path: Path, tenant: TenantId = T, name: str = "kb") -> Source:
    assert svc.sources is not None
    return svc.sources.create(
        tenant, name=name, kind="folder", config={"path": str(path)}, interval_seconds=3600
    )


def state(svc: Services, source: Source) -> Source:
    assert svc.sources is not None
    return svc.sources.get(source.tenant_id, source.id)


def docs(svc: Services, source: Source) -> dict[str, DocumentStatus]:
    listed = svc.store.list_documents(source.tenant_id, limit=500)
    return {d.source: d.status for d in listed if d.metadata.get("source_id") == source.id}


def hits(svc: Services, tenant: TenantId, word: str) -> set[str]:
    found = svc.search.search(tenant, word, mode="sparse", k=5).hits
    return {h.source for h in found if word in h.text}


def first_run_done(svc: Services, source: Source) -> Source:
    return wait_for(
        "the first run", lambda: state(svc, source).last_finished_at and state(svc, source)
    )


def test_a_change_is_synced_without_waiting_for_the_schedule(svc: Services, tmp_path: Path) -> None:
    folder = tmp_path / "share" / "kb"
    source = add_source(svc, folder)
    with Running(svc):
        first_run_done(svc, source)
        doc = folder / "sub" / "alpha.txt"
        doc.parent.mkdir()
        doc.write_text("Alpha explains the aardvark migration.")
        wait_for("the new file searchable", lambda: hits(svc, T, "aardvark") == {str(doc)})
        assert docs(svc, source) == {str(doc): DocumentStatus.INDEXED}

        doc.write_text("Alpha now explains the armadillo burrow, at some length.")
        wait_for("the changed file searchable", lambda: hits(svc, T, "armadillo") == {str(doc)})
        wait_for("the old text gone", lambda: hits(svc, T, "aardvark") == set())
        assert list(docs(svc, source).values()) == [DocumentStatus.INDEXED]

        (folder / ".hidden.txt").write_text("a hidden narwhal")  # ignored, as the scan does
        doc.unlink()
        wait_for("the deleted file's document gone", lambda: docs(svc, source) == {})
        assert hits(svc, T, "armadillo") == set()
        assert hits(svc, T, "narwhal") == set()
        done = state(svc, source)
        assert done.last_outcome == "success"
        assert done.next_run_at is not None and (done.next_run_at - utcnow()).total_seconds() > 3000


def test_a_burst_of_writes_gives_a_few_runs(svc: Services, tmp_path: Path) -> None:
    folder = tmp_path / "share" / "kb"
    source = add_source(svc, folder)
    with Running(svc):
        before = first_run_done(svc, source).run_number
        for i in range(50):
            (folder / f"note-{i:02d}.txt").write_text(f"Note {i} about the quokka number q{i}.")
        wait_for("50 documents indexed", lambda: len(docs(svc, source)) == 50)
        wait_for(
            "all indexed",
            lambda: set(docs(svc, source).values()) == {DocumentStatus.INDEXED},
        )
        time.sleep(1.5)  # any run still to come would have started by now
        runs = state(svc, source).run_number - before
    assert 1 <= runs <= 4, runs  # not one per file


def test_with_the_watch_off_nothing_runs_until_the_schedule(tmp_path: Path) -> None:
    folder = tmp_path / "share" / "kb"
    folder.mkdir(parents=True)
    svc = make(tmp_path, sources_watch=False)
    try:
        assert svc.source_watch is None
        source = add_source(svc, folder)
        with Running(svc):
            before = first_run_done(svc, source).run_number
            (folder / "late.txt").write_text("The late pangolin arrives.")
            time.sleep(3.0)  # debounce 0.2 s + scheduler turns of 1 s: a watch would have run
            assert state(svc, source).run_number == before
            assert docs(svc, source) == {}
            assert svc.sources is not None
            svc.sources.run_soon(T, source.id)  # the schedule comes round
            wait_for("the scheduled run's document", lambda: hits(svc, T, "pangolin"))
    finally:
        svc.close()


def test_a_watched_folder_deleted_is_reported_and_the_worker_goes_on(
    svc: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "share" / "kb"
    (folder / "keep.txt").write_text("The wombat stays.")
    other_folder = tmp_path / "share" / "other"
    other_folder.mkdir()
    source = add_source(svc, folder)
    other = add_source(svc, other_folder, tenant=OTHER, name="other")
    with Running(svc) as running:
        first_run_done(svc, source)
        first_run_done(svc, other)
        shutil.rmtree(folder)
        failed = wait_for(
            "the failed run in the status",
            lambda: (s := state(svc, source)).last_outcome == "failed" and s,
        )
        assert failed.last_error is not None and "not a readable folder" in failed.last_error
        assert docs(svc, source)  # a folder that cannot be read deletes nothing
        assert running.thread.is_alive()
        # Another tenant's folder is still watched and synced.
        (other_folder / "o.txt").write_text("The other tenant's okapi.")
        wait_for("the other tenant's change", lambda: hits(svc, OTHER, "okapi"))
        assert svc.source_watch is not None and source.id in svc.source_watch.unwatched
