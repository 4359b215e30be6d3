"""The long-running processes: ``ragd serve`` (HTTP API), ``ragd worker`` (ingestion) and
``ragd sync`` (an external index's outbox). Each stops gracefully on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ragd.cli.common import err, services
from ragd.config import get_settings
from ragd.errors import ConfigError
from ragd.worker import build_worker_pool


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default API_HOST.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default API_PORT.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Default UVICORN_WORKERS (API_WORKERS).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Default API_TIMEOUT: seconds in-flight requests get to finish on stop, "
            "and the longest a worker process may hang before it is replaced.",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and, in embedded mode, the ingestion worker) with uvicorn."""
    import uvicorn

    from ragd.api.http_server import MAX_REQUEST_HEADER_BYTES, RagdH11Protocol
    from ragd.config import Settings
    from ragd.observability.logging import configure_logging

    early = Settings()  # the log format first, so the audit's warnings are logged in it
    configure_logging(early.log_level, early.log_format)
    settings = get_settings()  # refuses what the audit calls an error (exit 3)
    services(settings).close()  # migrate, and fail fast (exit code 3) on bad configuration
    os.environ["RAGD_CONFIGURE_LOGGING"] = "1"  # uvicorn worker processes do the same
    processes = workers or settings.uvicorn_workers
    with metrics_shared_by(processes if settings.observability.metrics_enabled else 1):
        uvicorn.run(
            "ragd.api.app:create_app",
            factory=True,
            host=host or settings.api_host,
            port=port or settings.api_port,
            workers=processes,
            log_level=settings.log_level.lower(),
            access_log=False,  # ragd logs each request itself, with tenant and request id
            log_config=None,
            timeout_graceful_shutdown=round(timeout or settings.api.timeout_seconds),
            timeout_worker_healthcheck=round(timeout or settings.api.timeout_seconds),
            # Oversized request headers get a 431 (the protocol's module says why it is ours).
            http=RagdH11Protocol,
            h11_max_incomplete_event_size=MAX_REQUEST_HEADER_BYTES,
            proxy_headers=True,  # the client's IP from X-Forwarded-For, from trusted peers only
            forwarded_allow_ips=settings.api.forwarded_allow_ips,
        )


@contextmanager
def metrics_shared_by(processes: int) -> Iterator[None]:
    """Several uvicorn workers: prometheus_client's multiprocess mode, so that a scrape
    answered by any worker counts them all (``ragd.observability.metrics``).

    The directory is ``PROMETHEUS_MULTIPROC_DIR`` when the deployment sets it (emptied of
    the last run's samples first, as prometheus_client requires), else a new one under the
    temporary directory (``/tmp``, an emptyDir in the manifests), removed on exit. The
    worker processes inherit the variable: uvicorn spawns them after this is set.
    """
    from ragd.observability.metrics import MULTIPROC_ENV, multiprocess_dir

    if processes <= 1:
        yield
        return
    given = multiprocess_dir()
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        for stale in given.glob("*.db"):
            stale.unlink()
        yield
        return
    directory = Path(tempfile.mkdtemp(prefix="ragd-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when the queue is empty.")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            max=64,
            help="Worker threads sharing one model (default RAGD_WORKER_CONCURRENCY, 1).",
        ),
    ] = None,
) -> None:
    """Run an ingestion worker (own process); SIGTERM finishes gracefully."""
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    svc = services()
    pool = build_worker_pool(svc, concurrency, sources=True)
    pool.install_signal_handlers()
    stats = pool.run(until_idle=until_idle)
    ids = ", ".join(w.worker_id for w in pool.workers)
    err.print(
        f"worker {ids}: indexed {stats.indexed}, failed {stats.failed}, retried {stats.retried}"
    )


def sync_(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit when the outbox is empty.")
    ] = False,
) -> None:
    """Apply the outbox of an external index (Qdrant) until stopped; SIGTERM stops it.

    Ingestion workers do this too, between batches; run this where no worker runs, or
    with RAGD_OUTBOX_SYNC_IN_WORKER=false to keep index writes off the workers."""
    import threading

    from ragd.services.index_sync import run_sync
    from ragd.worker import install_stop_signals

    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    svc = services()
    try:
        if svc.index_sync is None:
            raise ConfigError(
                f"VECTOR_STORE_TYPE={svc.settings.vector_store_type} commits its index in the "
                "Store's transaction: there is no outbox to sync"
            )
        stop = threading.Event()
        install_stop_signals(stop.set)
        applied = run_sync(
            svc.index_sync,
            stop=stop,
            poll_seconds=svc.settings.worker_poll_seconds,
            until_idle=until_idle,
        )
    finally:
        svc.close()
    err.print(f"sync: applied {applied} outbox row(s)")
