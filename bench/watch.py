"""How soon a change in a watched folder source is searchable, and how many runs a burst costs.

    .venv/bin/python bench/watch.py [--changes 10] [--burst 200] [--debounce-ms 1000]

The real worker loop (ingestion, source scheduler, folder watcher) on a thread, SQLite, the
hashing embedder (the figure is about the watch and the scheduling, not the model); the
source's schedule is an hour away, so only the watcher starts runs. Prints, per single-file
change, the seconds from the write to the document being searchable (median and max), then
the runs and seconds a burst of ``--burst`` files written at once took.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker

T = TenantId("bench-watch")


def wait(check: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.02)
    raise SystemExit("timed out")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--debounce-ms", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
        folder = Path(tmp) / "share" / "kb"
        folder.mkdir(parents=True)
        settings = Settings(  # type: ignore[call-arg]
            data_dir=Path(tmp) / "data",
            embedding_model="hashing-64",
            sources_folder_roots=str(Path(tmp) / "share"),
            sources_watch_debounce_ms=args.debounce_ms,
        )
        migrate_database(settings)
        svc = build_services(settings)
        assert svc.sources is not None
        src = svc.sources.create(
            T, name="kb", kind="folder", config={"path": str(folder)}, interval_seconds=3600
        )
        worker = build_worker(svc, sources=True)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()

        def state() -> int:
            s = svc.sources.get(T, src.id)  # type: ignore[union-attr]
            return s.run_number if s.last_finished_at and not s.running else -1

        def found(word: str) -> bool:
            hits = svc.search.search(T, word, mode="sparse", k=3).hits
            return any(word in h.text for h in hits)

        wait(lambda: state() >= 1)
        latencies = []
        for i in range(args.changes):
            word = f"zebra{i}x"
            start = time.monotonic()
            (folder / f"change-{i}.txt").write_text(f"Change {i} mentions {word}.")
            wait(partial(found, word))
            latencies.append(time.monotonic() - start)
        print(
            f"single change → searchable: median {statistics.median(latencies):.2f} s, "
            f"max {max(latencies):.2f} s over {len(latencies)} changes "
            f"(debounce {args.debounce_ms} ms)"
        )
        wait(lambda: state() >= 0)
        before = state()
        start = time.monotonic()
        for i in range(args.burst):
            (folder / f"burst-{i}.txt").write_text(f"Burst file {i} names okapi{i}y.")
        last = f"okapi{args.burst - 1}y"
        wait(lambda: found(last) and found("okapi0y"), timeout=300)
        took = time.monotonic() - start
        time.sleep(args.debounce_ms / 1000 + 2)
        wait(lambda: state() >= 0)
        print(f"burst of {args.burst} files: {state() - before} runs, searchable in {took:.2f} s")
        worker.stop()
        thread.join(30)
        svc.close()


if __name__ == "__main__":
    main()
