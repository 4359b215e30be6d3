"""``ragd backup`` and ``ragd restore``: the Store to S3-compatible storage and back.

Both run in the shipped image (a CronJob, ``kubectl exec``, a one-off Job) with the same
environment as the API. ``restore`` replaces the Store, then migrates it (a backup from an
older release is brought to head) and rebuilds an index that lives outside the Store
(Qdrant), so one command brings a wiped installation back.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from ragd.cli.common import JsonOpt, err, out, print_json
from ragd.config import get_settings
from ragd.errors import InvalidRequest


def backup(
    list_only: Annotated[
        bool, typer.Option("--list", help="List the stored backups instead of making one.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune/--no-prune",
            help="Delete what the rotation (RAGD_BACKUP_KEEP_DAILY/_WEEKLY) no longer keeps.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Back up the Store (and an index inside it) to RAGD_BACKUP_BUCKET, then rotate."""
    from ragd.services.container import build_backup

    svc = build_backup(get_settings())
    if list_only:
        entries = svc.entries()
        if as_json:
            print_json(
                [
                    {"name": e.name, "created_at": e.created_at.isoformat(), "bytes": e.size}
                    for e in entries
                ]
            )
        else:
            for e in entries:
                out.print(f"{e.created_at:%Y-%m-%d %H:%M:%S}Z  {e.size:>12}  {e.name}")
            err.print(f"{len(entries)} backup(s) in {svc.objects.location}")
        return
    report = svc.backup(prune=prune)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(
        f"backed up the {report.kind} Store to {report.location}/{report.entry.key} "
        f"({report.entry.size} bytes, {report.seconds:.1f} s)"
    )
    for key in report.deleted:
        err.print(f"rotation: deleted {key}")


def restore(
    on: Annotated[
        str | None,
        typer.Option(
            "--date", help="Restore the newest backup taken on this UTC date (YYYY-MM-DD)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Restore this backup (as --list shows it).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a Store that holds data (stop ragd first).")
    ] = False,
    reindex: Annotated[
        bool,
        typer.Option(
            "--reindex/--no-reindex",
            help="Rebuild the index from the restored Store (default: only when the index "
            "lives outside it, i.e. Qdrant).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a backup (the newest, or --date / --name), migrate it, rebuild an external index."""
    from ragd.services.container import build_backup, build_reindex, migrate_database

    if on is not None and name is not None:
        raise InvalidRequest("give --date or --name, not both")
    day: date | None = None
    if on is not None:
        try:
            day = datetime.strptime(on, "%Y-%m-%d").date()
        except ValueError as exc:
            raise InvalidRequest(f"--date takes YYYY-MM-DD; got {on!r}") from exc
    settings = get_settings()
    report = build_backup(settings).restore(on=day, name=name, force=force)
    err.print(f"restored {report.entry.name} ({report.kind})")
    revision = migrate_database(settings)
    err.print(f"database at revision {revision}")
    reindexed = None
    if reindex or not report.index_in_backup or settings.index.backend == "qdrant":
        svc, job = build_reindex(settings)
        try:
            done = job.run()
        finally:
            svc.close()
        reindexed = {"documents": done.documents, "chunks": done.chunks}
        err.print(f"reindexed {done.chunks} chunk(s) of {done.documents} document(s)")
    if as_json:
        print_json({**report.as_dict(), "revision": revision, "reindexed": reindexed})
    else:
        out.print(
            f"restored {report.entry.name} taken {report.entry.created_at:%Y-%m-%d %H:%M:%S}Z"
        )
