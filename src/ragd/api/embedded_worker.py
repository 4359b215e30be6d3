"""The ingestion worker inside ``ragd serve``: a child process by default, or a thread.

Why a process: the worker is CPU-bound Python (chunking a 45 MB paragraph, counting
tokens, building a big document's rows). As a thread of the API process it shares the GIL
with the event loop, and every I/O step of a request (``/health`` included) waits until
the worker lets go of it. A 1 ms switch interval bounds each wait on an idle machine, but
on a loaded one the kernel may deschedule the worker while it holds the GIL, and the event
loop then waits for the worker's next time slice, over and over: ``/health`` took a second
while a 45 MB document was indexed (``tests/security/test_hostile_server.py``). In a child
process the API never waits for the worker; the kernel shares the cores between them.

``RAGD_EMBEDDED_WORKER_MODE``: ``process`` (the default, ``auto``), or ``thread``: one
process and one copy of the embedding model, what Qdrant's local mode needs (its storage
admits one process) and what the in-process tests use.

The child is ``python -m ragd.api.embedded_worker``: it reads the parent's ``Settings``
(pickled) from its stdin and keeps the pipe open; end of file means the API process is
gone (even killed), and the child stops. SIGTERM stops it gracefully (its jobs are
released untouched, as ``ragd worker`` does). A child that dies on its own (killed for
memory, say) is started again after a backoff; its jobs come back through their leases.
Its metrics reach the API's ``/metrics`` through a prometheus_client multiprocess directory
that scrapes merge (``observability.metrics.merge_from``).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from ragd.config import Settings
from ragd.observability import metrics
from ragd.observability.error_reporting import init_sentry
from ragd.services.container import Services, build_services
from ragd.worker import build_worker

log = logging.getLogger("ragd.api")

SWITCH_INTERVAL_S = 0.001
RESTART_BACKOFF_S = (1.0, 30.0)
"""First and longest wait before a worker process that died on its own is started again."""


class EmbeddedWorker(Protocol):
    """The worker beside the API, however it runs."""

    def stop(self, timeout: float) -> None:
        """Stop it (its jobs are released untouched); wait up to ``timeout`` seconds."""


class ThreadWorker:
    """The worker on a thread of this process, sharing its services."""

    def __init__(self, services: Services) -> None:
        self.worker = build_worker(services, sources=True)
        self.thread = threading.Thread(
            target=self.worker.run, name="ragd-embedded-worker", daemon=True
        )
        self.thread.start()
        log.info("embedded ingestion worker %s started (thread)", self.worker.worker_id)

    def stop(self, timeout: float) -> None:
        self.worker.stop()
        self.thread.join(timeout=timeout)


class ProcessWorker:
    """The worker in a child process, restarted if it dies on its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics_dir: Path | None = None
        if metrics.multiprocess_dir() is None:  # else the child writes where the API's do
            self.metrics_dir = Path(tempfile.mkdtemp(prefix="ragd-worker-metrics-"))
            metrics.merge_from(self.metrics_dir)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.proc = self._spawn()
        self._watch = threading.Thread(
            target=self._supervise, name="ragd-worker-watch", daemon=True
        )
        self._watch.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.metrics_dir is not None:
            env[metrics.MULTIPROC_ENV] = str(self.metrics_dir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragd.api.embedded_worker"],
            stdin=subprocess.PIPE,
            env=env,
            # Its own process group: a terminal's Ctrl-C reaches the API process alone,
            # which then stops the worker itself (instead of seeing it exit and restarting it).
            start_new_session=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(self.settings))
        proc.stdin.flush()  # kept open: its end tells the child this process is gone
        log.info("embedded ingestion worker started (process %d)", proc.pid)
        return proc

    def _supervise(self) -> None:
        backoff = RESTART_BACKOFF_S[0]
        while True:
            code = self.proc.wait()
            if self._stopping.wait(backoff):
                return
            log.error(
                "embedded ingestion worker (process %d) exited with %s; starting it again",
                self.proc.pid,
                code,
            )
            with self._lock:
                if self._stopping.is_set():
                    return
                self._close_stdin()
                self.proc = self._spawn()
            backoff = min(backoff * 2, RESTART_BACKOFF_S[1])

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded ingestion worker did not stop in %gs: killed", timeout)
                proc.kill()
                proc.wait()
        self._close_stdin()
        self._watch.join(timeout=5)
        if self.metrics_dir is not None:
            metrics.stop_merging(self.metrics_dir)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _close_stdin(self) -> None:
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()


def start(settings: Settings, services: Services) -> EmbeddedWorker:
    """The embedded worker in the mode the settings ask for (``RAGD_EMBEDDED_WORKER_MODE``)."""
    if settings.embedded_worker_in_process:
        return ProcessWorker(settings)
    return ThreadWorker(services)


def _stop_when_parent_is_gone(stop: Callable[[], None]) -> None:
    """Blocks on stdin until the API process closes it (or dies), then stops the worker."""
    fd = sys.stdin.fileno()
    try:
        while os.read(fd, 4096):  # the raw descriptor: no lock left held at exit
            pass
    finally:
        stop()


def main() -> None:
    """The child: settings from stdin, then the worker loop until SIGTERM or the parent ends."""
    settings: Settings = pickle.load(sys.stdin.buffer)  # our own parent's pipe
    if os.environ.get("RAGD_CONFIGURE_LOGGING") == "1":
        from ragd.observability.logging import configure_logging

        configure_logging(settings.observability.log_level, settings.observability.log_format)
    init_sentry(settings)  # its failures are reported as the API's were (no-op without a DSN)
    # The large-document lane chunks on a thread of this process beside the worker loop:
    # 1 ms turns instead of 5 keep the loop's small documents moving.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    services = build_services(settings)
    worker = build_worker(services, sources=True)
    worker.install_signal_handlers()
    threading.Thread(target=_stop_when_parent_is_gone, args=(worker.stop,), daemon=True).start()
    log.info("embedded ingestion worker %s running (process %d)", worker.worker_id, os.getpid())
    try:
        worker.run()
    finally:
        metrics.worker_stopped()
        services.close()


if __name__ == "__main__":
    main()
