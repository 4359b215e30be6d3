"""``ragd sources``: add, list, run and remove synced sources (S3 buckets, web sites,
server folders), and make the key their secrets are sealed with.

Secrets never go on the command line (shell history, ``ps``): ``--secret-env
NAME=VARIABLE`` reads a value from the environment, ``--secret-file`` a JSON object.
``run`` syncs in this process now (waiting for a run in progress elsewhere to end or its
lease to lapse) and, unless ``--no-wait``, indexes what it queued before returning.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragd.cli.common import JsonOpt, TenantOpt, err, out, print_json, services
from ragd.cli.documents import drain
from ragd.domain.models import DEFAULT_TENANT, TenantId
from ragd.domain.sources import Source
from ragd.errors import ConfigError, InvalidRequest
from ragd.services.container import new_sources_key
from ragd.worker import new_worker_id

LEASE_POLL_S = 1.0


def _pairs(values: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"{what} takes KEY=VALUE, not {v!r}")
        pairs.append((key.strip(), value))
    return pairs


def _value(raw: str) -> Any:
    """``--set`` values: JSON when they parse (numbers, booleans, lists), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _secret(secret_env: list[str], secret_file: Path | None) -> dict[str, str] | None:
    secret: dict[str, str] = {}
    if secret_file is not None:
        try:
            data = json.loads(secret_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"--secret-file {secret_file}: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidRequest("--secret-file must hold a JSON object")
        secret.update({str(k): str(v) for k, v in data.items()})
    for key, var in _pairs(secret_env, "--secret-env"):
        if var not in os.environ:
            raise InvalidRequest(f"--secret-env {key}={var}: ${var} is not set")
        secret[key] = os.environ[var]
    return secret or None


def _json(s: Source) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "kind": s.kind,
        "config": s.config,
        "has_secret": s.has_secret,
        "interval_seconds": s.interval_seconds,
        "enabled": s.enabled,
        "running": s.running,
        "runs": s.run_number,
        "last_started_at": s.last_started_at.isoformat() if s.last_started_at else None,
        "last_finished_at": s.last_finished_at.isoformat() if s.last_finished_at else None,
        "last_outcome": s.last_outcome,
        "last_error": s.last_error,
        "last_counts": s.last_counts.as_dict(),
        "next_run_at": s.next_run_at.isoformat() if s.next_run_at and s.enabled else None,
        "items": s.item_count,
    }


def sources_add(
    name: Annotated[str, typer.Argument(help="A name for the source (letters, digits, . _ -).")],
    kind: Annotated[str, typer.Argument(help="s3 | web | folder")],
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="A setting KEY=VALUE (repeatable): s3 bucket, prefix, endpoint_url, region, "
            "addressing_style; web sitemap_url, max_pages, max_depth, same_site; folder path.",
        ),
    ] = [],  # noqa: B006 - typer reads the default
    url: Annotated[
        list[str], typer.Option("--url", help="A web source's start URL (repeatable).")
    ] = [],  # noqa: B006
    secret_env: Annotated[
        list[str],
        typer.Option(
            "--secret-env",
            help="A secret field from the environment, FIELD=VARIABLE (repeatable), e.g. "
            "secret_access_key=AWS_SECRET_ACCESS_KEY.",
        ),
    ] = [],  # noqa: B006
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="A JSON object of secret fields.")
    ] = None,
    interval: Annotated[
        int | None, typer.Option("--interval", help="Seconds between runs.")
    ] = None,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Add it without running it.")
    ] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Add a synced source; the worker runs it at once, then every --interval seconds."""
    config: dict[str, Any] = {k: _value(v) for k, v in _pairs(set_, "--set")}
    if url:
        config["start_urls"] = url
    svc = services()
    assert svc.sources is not None
    source = svc.sources.create(
        TenantId(tenant),
        name=name,
        kind=kind,
        config=config,
        secret=_secret(secret_env, secret_file),
        interval_seconds=interval,
        enabled=not disabled,
    )
    if as_json:
        print_json(_json(source))
    else:
        out.print(f"added {source.kind} source [bold]{source.name}[/] ({source.id})")


def sources_list(tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """List sources with their last run and next run."""
    svc = services()
    assert svc.sources is not None
    found = svc.sources.list(TenantId(tenant))
    if as_json:
        print_json([_json(s) for s in found])
        return
    table = Table(title_justify="left")
    for col in ("name", "kind", "items", "last run", "seen/added/changed/deleted/failed", "next"):
        table.add_column(col)
    for s in found:
        c = s.last_counts
        last = "running" if s.running else (s.last_outcome or "never")
        nxt = s.next_run_at.strftime("%Y-%m-%d %H:%M") if s.next_run_at and s.enabled else "off"
        table.add_row(
            s.name,
            s.kind,
            str(s.item_count),
            last,
            f"{c.seen}/{c.added}/{c.changed}/{c.deleted}/{c.failed}",
            nxt,
        )
    out.print(table)


def sources_run(
    name: Annotated[str, typer.Argument(help="The source's name or id.")],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Index what it queued before returning.")
    ] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Sync a source now, in this process."""
    svc = services()
    assert svc.sources is not None and svc.source_sync is not None
    tid = TenantId(tenant)
    source = svc.sources.resolve(tid, name)
    owner = new_worker_id()
    deadline = time.monotonic() + svc.settings.sources.lease_seconds + 10
    while (result := svc.source_sync.run(tid, source.id, owner)) is None:
        if time.monotonic() > deadline:
            raise ConfigError(f"source {source.name} is held by another run; try again later")
        err.print(f"source {source.name} is being synced elsewhere; waiting", highlight=False)
        time.sleep(LEASE_POLL_S)
    c = result.counts
    if wait and (c.added or c.changed):
        drain(svc, c.added + c.changed, quiet=as_json)
    if as_json:
        print_json({"outcome": result.outcome, "error": result.error, "counts": c.as_dict()})
    else:
        out.print(
            f"{source.name}: {result.outcome}; seen {c.seen}, added {c.added}, changed "
            f"{c.changed}, unchanged {c.unchanged}, deleted {c.deleted}, failed {c.failed}"
        )
        for key, reason in c.failures:
            err.print(f"  [red]failed[/] {key}: {reason}", highlight=False)
        for note in c.notes:
            err.print(f"  note: {note}", highlight=False)
        if result.error:
            err.print(f"[red]error:[/] {result.error}", highlight=False)
    if result.outcome == "failed":
        raise typer.Exit(code=1)


def sources_remove(
    name: Annotated[str, typer.Argument(help="The source's name or id.")],
    keep_documents: Annotated[
        bool, typer.Option("--keep-documents", help="Keep the documents it brought in.")
    ] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Remove a source and (unless --keep-documents) its documents."""
    svc = services()
    assert svc.sources is not None
    tid = TenantId(tenant)
    source = svc.sources.resolve(tid, name)
    deleted = svc.sources.remove(tid, source.id, keep_documents=keep_documents)
    out.print(f"removed source {source.name}; {deleted} document(s) deleted")


def sources_keygen() -> None:
    """Print a new RAGD_SOURCES_SECRET_KEY (a Fernet key)."""
    out.print(new_sources_key(), highlight=False)
