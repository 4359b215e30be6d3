"""Operating the Store and the index: ``jobs``, ``migrate``, ``reindex``, ``maintain`` and
``reconcile``. Each runs once and exits (cron jobs, deploy hooks, repairs).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragd.cli.common import JsonOpt, err, out, print_json, services
from ragd.config import get_settings
from ragd.errors import InvalidRequest


def jobs(as_json: JsonOpt = False) -> None:
    """Ingestion queue: jobs per state."""
    svc = services()
    counts = {k.value: v for k, v in svc.queue.counts().items()}
    if as_json:
        print_json(counts)
    else:
        out.print("  ".join(f"{k}: {v}" for k, v in counts.items()))


def migrate(
    current: Annotated[
        bool, typer.Option("--current", help="Print the Store's revision; change nothing.")
    ] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REV",
            help="Upgrade or downgrade to REV (a revision id, head, base, -1, +1).",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Allow a downgrade outside development.")
    ] = False,
) -> None:
    """Create or upgrade the Store's schema (Alembic), print its revision (--current), or
    move it to a revision (--to; a downgrade outside development needs --yes)."""
    from ragd.config.audit import DEVELOPMENT
    from ragd.services.container import (
        database_revision,
        migrate_database,
        migrate_database_to,
    )

    settings = get_settings()
    if current and to is not None:
        raise InvalidRequest("--current and --to exclude each other")
    if current:
        out.print(database_revision(settings), highlight=False)
        return
    if to is not None:
        allow = yes or settings.environment.lower() in DEVELOPMENT
        revision = migrate_database_to(settings, to, allow_downgrade=allow)
    else:
        revision = migrate_database(settings, check_backend=False)
    out.print(f"database at revision {revision}")


def reindex(
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Index to build: sqlite, pgvector or qdrant (default: VECTOR_STORE_TYPE). "
            "Qdrant is built beside the live collection and swapped in (no downtime).",
        ),
    ] = None,
    reuse_vectors: Annotated[
        bool,
        typer.Option(
            "--reuse-vectors/--embed-all",
            help="Copy vectors an index already holds for the same model instead of "
            "embedding every chunk again.",
        ),
    ] = True,
) -> None:
    """Rebuild the index from the Store with the configured embedding model."""
    from ragd.services.container import build_reindex, migrate_database

    if target not in (None, "sqlite", "pgvector", "qdrant"):
        raise InvalidRequest(f"--target takes sqlite, pgvector or qdrant; got {target!r}")
    migrate_database(get_settings())
    svc, job = build_reindex(get_settings(), target=target, reuse_vectors=reuse_vectors)
    total = sum(svc.store.count_chunks(t) for t in svc.store.tenants())
    try:
        with Progress(
            TextColumn("reindexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("reindex", total=total)
            report = job.run(on_progress=lambda n: progress.advance(task, n))
    finally:
        svc.close()
    out.print(
        f"reindexed {report.chunks} chunk(s) of {report.documents} document(s) "
        f"with {svc.embedder.spec.model} ({svc.embedder.spec.dimension}-d)"
        + (f"; {report.copied_vectors} vector(s) copied" if report.copied_vectors else "")
        + ("; swapped in atomically" if report.staged else "")
    )


def maintain() -> None:
    """Build what the index builds in the background (pgvector: an HNSW graph of its own
    for every tenant above RAGD_PG_EXACT_BELOW chunks), then exit. Workers do this themselves when
    their role owns the tables; otherwise run this as the owner, e.g. from a cron job."""
    from ragd.ports.index import IndexMaintenance

    svc = services()
    built: list[str] = []
    try:
        if isinstance(svc.index, IndexMaintenance):
            while (tenant := svc.index.maintain()) is not None:
                built.append(tenant)
                err.print(f"maintain: built the vector index of tenant {tenant}")
    finally:
        svc.close()
    err.print(f"maintain: {len(built)} index(es) built")


def reconcile(
    repair: Annotated[
        bool, typer.Option("--repair/--check", help="Fix what differs, or only report it.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Compare the Store with an external index (Qdrant): re-add missing chunks, remove
    orphans, report the drift (also as ragd_index_drift_chunks). Exit 1 on drift with
    --check."""
    from ragd.services.reconcile import ReconcileService

    svc = services()
    try:
        report = ReconcileService(svc.store, svc.index, svc.embedder, svc.index_sync).run(
            repair=repair
        )
    finally:
        svc.close()
    if as_json:
        print_json(report.as_dict())
    else:
        out.print(
            f"{report.tenants} tenant(s), {report.store_chunks} chunk(s) in the Store, "
            f"{report.index_chunks} in the index: {report.missing} missing, "
            f"{report.orphans} orphan(s)"
            + (
                f"; re-indexed {report.repaired_documents} document(s), removed "
                f"{report.removed_orphans} orphan(s)"
                if repair and report.drift
                else ""
            )
        )
        for line in report.examples:
            out.print(f"  {line}")
    if report.drift and not repair:
        raise typer.Exit(code=1)
