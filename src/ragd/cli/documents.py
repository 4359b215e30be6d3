"""``ragd ingest`` and ``ragd docs``: adding documents, and listing, showing, deleting,
cancelling and retrying them.

``ingest`` and ``docs retry`` index in this process by default (``--wait``): they run a
worker until the queue is empty, with a progress bar on stderr.
"""

from __future__ import annotations

import getpass
import glob
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragd.cli.common import JsonOpt, TenantOpt, doc_json, err, out, print_json, services
from ragd.domain.models import DEFAULT_TENANT, Document, DocumentStatus, TenantId
from ragd.errors import InvalidRequest
from ragd.services.container import Services
from ragd.worker import build_worker


def expand_paths(patterns: list[str]) -> Iterator[Path]:
    """Files, folders (recursively, hidden entries skipped) and glob patterns."""
    seen: set[Path] = set()
    for pattern in patterns:
        matches = [Path(p) for p in sorted(glob.glob(pattern, recursive=True))] or [Path(pattern)]
        for match in matches:
            if match.is_dir():
                files = sorted(
                    p
                    for p in match.rglob("*")
                    if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(match).parts)
                )
            elif match.exists():
                files = [match]
            else:
                raise InvalidRequest(f"{pattern}: no such file or directory")
            for f in files:
                if f not in seen:
                    seen.add(f)
                    yield f


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, folders or glob patterns.")],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait", help="Index now and wait (in-process worker) or only queue."
        ),
    ] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Add documents. Identical content is skipped; changed content replaces the old version."""
    svc = services()
    tid = TenantId(tenant)
    files = list(expand_paths(paths))
    report = svc.ingest.submit_paths(tid, files)
    queued = [s.document for s in report.submissions if s.outcome in ("queued", "replaced")]
    if not as_json:
        out.print(
            f"[bold]{len(files)}[/] file(s): {report.count('queued')} new, "
            f"{report.count('replaced')} "
            f"changed, {report.count('unchanged')} unchanged, {report.count('failed')} rejected"
        )
    elapsed = 0.0
    if wait and queued:
        elapsed = drain(svc, len(queued), quiet=as_json)
    ids = {d.id for d in queued} | {d.id for d in report.failures}
    final = [svc.store.get_document(tid, i) for i in ids] if len(ids) <= 10000 else []
    failed = [d for d in final if d.status == DocumentStatus.FAILED]
    indexed = sum(1 for d in final if d.status == DocumentStatus.INDEXED)
    if as_json:
        print_json(
            {
                "files": len(files),
                "submitted": len(report.submissions),
                "queued": len(queued),
                "unchanged": report.count("unchanged"),
                "indexed": indexed,
                "failed": [doc_json(d) for d in failed],
                "seconds": round(elapsed, 2),
            }
        )
    else:
        if wait and queued:
            rate = indexed / elapsed if elapsed else 0.0
            out.print(f"indexed {indexed} document(s) in {elapsed:.1f}s ({rate:.1f} docs/s)")
        elif queued:
            out.print(f"queued {len(queued)} document(s); a running `ragd worker` will index them")
        _print_failures(failed)
    if failed:
        raise typer.Exit(code=1)


def drain(svc: Services, total: int, *, quiet: bool) -> float:
    """Run an in-process worker until the queue is empty, with a progress bar."""
    worker = build_worker(svc)
    worker.install_signal_handlers()
    t0 = time.monotonic()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("indexing", total=total, rate="")

        def on_batch(_result: Any) -> None:
            done = worker.stats.indexed + worker.stats.failed
            rate = done / max(time.monotonic() - t0, 1e-9)
            progress.update(task, completed=min(done, total), rate=f"{rate:.1f} docs/s")

        worker.run(until_idle=True, on_batch=on_batch)
    if svc.index_sync is not None and svc.settings.outbox_sync_in_worker and not worker.stopping:
        svc.index_sync.drain()  # the last batches' outbox rows: searchable on return
    return time.monotonic() - t0


def _print_failures(failed: list[Document]) -> None:
    if not failed:
        return
    table = Table(title=f"{len(failed)} document(s) failed", title_justify="left")
    table.add_column("source")
    table.add_column("error", style="red")
    for d in failed[:50]:
        table.add_row(d.source, d.error or "")
    err.print(table)
    if len(failed) > 50:
        err.print(f"... and {len(failed) - 50} more (ragd docs list --status failed)")


def docs_list(
    status: Annotated[
        str | None, typer.Option("--status", help="queued|parsing|embedding|indexed|failed")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Source or title contains.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """List documents with their status."""
    try:
        st = DocumentStatus(status) if status else None
    except ValueError:
        raise InvalidRequest(
            f"unknown status {status!r}; one of {', '.join(s.value for s in DocumentStatus)}"
        ) from None
    svc = services()
    docs = svc.store.list_documents(
        TenantId(tenant), status=st, name_contains=name, limit=limit, offset=offset
    )
    total = svc.store.count_documents(TenantId(tenant), status=st, name_contains=name)
    if as_json:
        print_json({"total": total, "documents": [doc_json(d) for d in docs]})
        return
    table = Table(title=f"{len(docs)} of {total} document(s)", title_justify="left")
    for col in ("id", "title", "status", "chunks", "updated"):
        table.add_column(col)
    for d in docs:
        status_txt = (
            d.status.value if d.status != DocumentStatus.FAILED else f"[red]failed[/]: {d.error}"
        )
        table.add_row(
            d.id,
            d.title[:60],
            status_txt,
            str(d.chunk_count),
            d.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


def docs_show(
    document_id: str,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also print the chunks.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Show one document (and its chunks)."""
    svc = services()
    doc = svc.store.get_document(TenantId(tenant), document_id)
    chunk_list = svc.store.list_chunks(TenantId(tenant), document_id) if chunks else []
    if as_json:
        data = doc_json(doc)
        if chunks:
            data["chunk_list"] = [
                {
                    "id": c.id,
                    "ordinal": c.ordinal,
                    "text": c.text,
                    "page": c.page,
                    "heading_path": list(c.heading_path),
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                    "token_count": c.token_count,
                    "metadata": c.metadata,
                }
                for c in chunk_list
            ]
        print_json(data)
        return
    for key, value in doc_json(doc).items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)
    for c in chunk_list:
        where = f" p.{c.page}" if c.page else ""
        meta = "".join(f", {k}={v}" for k, v in c.metadata.items())
        out.print(
            f"\n[bold]#{c.ordinal}[/]{where} {' › '.join(c.heading_path)} "
            f"[dim]({c.token_count} tokens{meta})[/]"
        )
        out.print(c.text, highlight=False)


def docs_delete(document_id: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Delete a document: its chunks and index entries go in the same transaction."""
    svc = services()
    svc.ingest.delete(TenantId(tenant), document_id)
    out.print(f"deleted {document_id}")


def docs_cancel(
    document_id: str, tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False
) -> None:
    """Stop indexing a queued or in-flight document; it ends failed ("cancelled by <you>")
    and `ragd docs retry` can queue it again. A worker drops it within seconds."""
    svc = services()
    doc = svc.ingest.cancel(TenantId(tenant), document_id, by=_user())
    if as_json:
        print_json(doc_json(doc))
        return
    out.print(f"cancelled {document_id}")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return None


def docs_retry(
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Queue failed documents again (those whose content is still stored)."""
    svc = services()
    n = svc.ingest.retry_failed(TenantId(tenant))
    out.print(f"queued {n} failed document(s) again")
    if wait and n:
        drain(svc, n, quiet=False)
