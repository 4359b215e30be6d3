"""The ``ragd`` command line: thin, it parses, calls services and prints.

Errors from ragd become one readable line on stderr and an exit code (2: bad input,
3: configuration, 4: not found, 1: anything else), never a traceback.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragd.config import Settings, get_settings
from ragd.domain.filters import SearchFilters
from ragd.domain.models import DEFAULT_TENANT, Document, DocumentStatus, TenantId
from ragd.errors import ConfigError, InvalidRequest, NotFound, RagdError
from ragd.services.container import Services, build_services, migrate_database
from ragd.worker import build_worker, build_worker_pool

app = typer.Typer(
    name="ragd",
    help="ragd: documents in, grounded answers out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
docs_app = typer.Typer(help="List, inspect, delete and retry documents.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
admin_app = typer.Typer(help="Tenants, users and API keys.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")

out = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id (embedded mode has one).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _services(settings: Settings | None = None, *, check_index: bool = True) -> Services:
    settings = settings or get_settings()
    migrate_database(settings)
    return build_services(settings, check_index=check_index)


# --------------------------------------------------------------------- ingest ---
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


@app.command()
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
    svc = _services()
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
        elapsed = _drain(svc, len(queued), quiet=as_json)
    ids = {d.id for d in queued} | {d.id for d in report.failures}
    final = [svc.store.get_document(tid, i) for i in ids] if len(ids) <= 10000 else []
    failed = [d for d in final if d.status == DocumentStatus.FAILED]
    indexed = sum(1 for d in final if d.status == DocumentStatus.INDEXED)
    if as_json:
        _print_json(
            {
                "files": len(files),
                "submitted": len(report.submissions),
                "queued": len(queued),
                "unchanged": report.count("unchanged"),
                "indexed": indexed,
                "failed": [_doc_json(d) for d in failed],
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


def _drain(svc: Services, total: int, *, quiet: bool) -> float:
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


# --------------------------------------------------------------------- search ---
@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[str | None, typer.Option("--mode", help="hybrid | dense | sparse")] = None,
    k: Annotated[int, typer.Option("--k", help="How many passages.")] = 10,
    document_id: Annotated[
        list[str] | None, typer.Option("--document-id", help="Only these documents.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata equality, key=value.")
    ] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Search the indexed passages."""
    filters = _filters(document_id, source, meta)
    svc = _services()
    result = svc.search.search(TenantId(tenant), query, mode=mode, k=k, filters=filters)  # type: ignore[arg-type]
    if as_json:
        _print_json(
            {
                "query": query,
                "mode": result.mode,
                "hits": [
                    {
                        "chunk_id": h.chunk_id,
                        "document_id": h.document_id,
                        "title": h.title,
                        "source": h.source,
                        "text": h.text,
                        "score": h.score,
                        "page": h.page,
                        "heading_path": list(h.heading_path),
                        "char_start": h.char_start,
                        "char_end": h.char_end,
                    }
                    for h in result.hits
                ],
                "timings": {k_: round(v, 2) for k_, v in result.timings.items()},
            }
        )
        return
    if not result.hits:
        out.print("no matching passages")
    for i, h in enumerate(result.hits, 1):
        where = f" p.{h.page}" if h.page else ""
        path = [p for p in h.heading_path if p.casefold() != h.title.casefold()]
        heading = f" › {' › '.join(path)}" if path else ""
        out.print(
            f"[bold]{i}.[/] [cyan]{h.title}[/]{where}{heading}  "
            f"[dim]{h.score:.4f}  {h.document_id}[/]"
        )
        flat = " ".join(h.text.split())
        snippet = flat if len(flat) <= 300 else flat[:300] + "…"
        out.print(f"   {snippet}", highlight=False)
    out.print(f"[dim]{result.mode} · {result.timings['total_ms']:.0f} ms[/]")


def _filters(
    document_id: list[str] | None, source: list[str] | None, meta: list[str] | None
) -> SearchFilters:
    return SearchFilters.from_mapping(
        {
            **({"document_ids": document_id} if document_id else {}),
            **({"sources": source} if source else {}),
            **({"metadata": _parse_meta(meta)} if meta else {}),
        }
    )


# ------------------------------------------------------------------ ask/serve ---
@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    mode: Annotated[str | None, typer.Option("--mode", help="hybrid | dense | sparse")] = None,
    k: Annotated[int | None, typer.Option("--k", help="Passages to retrieve.")] = None,
    document_id: Annotated[
        list[str] | None, typer.Option("--document-id", help="Only these documents.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata equality, key=value.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written.")
    ] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the indexed documents, with numbered sources."""
    from ragd.api.schemas import QueryOut
    from ragd.services.answer import Finished, Token

    filters = _filters(document_id, source, meta)
    svc = _services()
    kwargs: dict[str, Any] = {"mode": mode, "k": k, "filters": filters}
    if as_json:
        answer = svc.answers.answer(TenantId(tenant), question, **kwargs)
        _print_json(QueryOut.of(answer).model_dump(mode="json"))
        return
    answer = None
    if stream:
        for event in svc.answers.stream(TenantId(tenant), question, **kwargs):
            if isinstance(event, Token):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, Finished):
                answer = event.answer
        sys.stdout.write("\n")
    else:
        answer = svc.answers.answer(TenantId(tenant), question, **kwargs)
        out.print(answer.text, highlight=False, soft_wrap=True)
    assert answer is not None
    cited: dict[int, Any] = {}
    for c in answer.citations:
        cited.setdefault(c.n, c)
    if cited:
        out.print("\n[bold]Sources[/]")
    for n in sorted(cited):
        c = cited[n]
        page = f", p.{c.page}" if c.page else ""
        mark = "" if c.supported else " [yellow](not supported by the passage)[/]"
        out.print(f"[bold][{n}][/] [cyan]{c.title}[/]{page}{mark}", highlight=False)
        out.print(f"    “{' '.join(c.quote.split())}”", highlight=False, soft_wrap=True)
    total = answer.timings.get("total_ms", 0.0)
    out.print(f"[dim]{answer.model} · {total:.0f} ms{' · cached' if answer.cached else ''}[/]")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default API_HOST.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default API_PORT.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Default UVICORN_WORKERS.")
    ] = None,
) -> None:
    """Run the HTTP API (and, in embedded mode, the ingestion worker) with uvicorn."""
    import uvicorn

    from ragd.observability.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _services(settings).close()  # migrate, and fail fast (exit code 3) on bad configuration
    os.environ["RAGD_CONFIGURE_LOGGING"] = "1"  # uvicorn worker processes do the same
    uvicorn.run(
        "ragd.api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers or settings.uvicorn_workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # ragd logs each request itself, with tenant and request id
        log_config=None,
        timeout_graceful_shutdown=30,
    )


def _parse_meta(items: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--meta expects key=value, got {item!r}")
        try:
            value = json.loads(raw)
            if isinstance(value, dict | list):
                value = raw
        except json.JSONDecodeError:
            value = raw
        parsed[key] = value
    return parsed


# ----------------------------------------------------------------------- docs ---
@docs_app.command("list")
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
    svc = _services()
    docs = svc.store.list_documents(
        TenantId(tenant), status=st, name_contains=name, limit=limit, offset=offset
    )
    total = svc.store.count_documents(TenantId(tenant), status=st)
    if as_json:
        _print_json({"total": total, "documents": [_doc_json(d) for d in docs]})
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


@docs_app.command("show")
def docs_show(
    document_id: str,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also print the chunks.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Show one document (and its chunks)."""
    svc = _services()
    doc = svc.store.get_document(TenantId(tenant), document_id)
    chunk_list = svc.store.list_chunks(TenantId(tenant), document_id) if chunks else []
    if as_json:
        data = _doc_json(doc)
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
                }
                for c in chunk_list
            ]
        _print_json(data)
        return
    for key, value in _doc_json(doc).items():
        out.print(f"[bold]{key}[/]: {value}", highlight=False)
    for c in chunk_list:
        where = f" p.{c.page}" if c.page else ""
        out.print(
            f"\n[bold]#{c.ordinal}[/]{where} {' › '.join(c.heading_path)} "
            f"[dim]({c.token_count} tokens)[/]"
        )
        out.print(c.text, highlight=False)


@docs_app.command("delete")
def docs_delete(document_id: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Delete a document: its chunks and index entries go in the same transaction."""
    svc = _services()
    svc.ingest.delete(TenantId(tenant), document_id)
    out.print(f"deleted {document_id}")


@docs_app.command("retry")
def docs_retry(
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Queue failed documents again (those whose content is still stored)."""
    svc = _services()
    n = svc.ingest.retry_failed(TenantId(tenant))
    out.print(f"queued {n} failed document(s) again")
    if wait and n:
        _drain(svc, n, quiet=False)


# ------------------------------------------------------------ worker & admin ---
@app.command()
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
    svc = _services()
    pool = build_worker_pool(svc, concurrency)
    pool.install_signal_handlers()
    stats = pool.run(until_idle=until_idle)
    ids = ", ".join(w.worker_id for w in pool.workers)
    err.print(
        f"worker {ids}: indexed {stats.indexed}, failed {stats.failed}, retried {stats.retried}"
    )


@app.command()
def jobs(as_json: JsonOpt = False) -> None:
    """Ingestion queue: jobs per state."""
    svc = _services()
    counts = {k.value: v for k, v in svc.queue.counts().items()}
    if as_json:
        _print_json(counts)
    else:
        out.print("  ".join(f"{k}: {v}" for k, v in counts.items()))


@app.command()
def migrate() -> None:
    """Create or upgrade the Store's schema (Alembic)."""
    from ragd.adapters.sql import migrate as m
    from ragd.adapters.sql.database import Database

    s = get_settings()
    db = Database(s.sqlalchemy_url)
    m.upgrade(db)
    out.print(f"database at revision {m.current(db)}")


@app.command()
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
    from ragd.services.container import build_reindex

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


@app.command("sync")
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
    svc = _services()
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


@app.command()
def maintain() -> None:
    """Build what the index builds in the background (pgvector: an HNSW graph of its own
    for every tenant above RAGD_PG_EXACT_BELOW chunks), then exit. Workers do this themselves when
    their role owns the tables; otherwise run this as the owner, e.g. from a cron job."""
    from ragd.ports.index import IndexMaintenance

    svc = _services()
    built: list[str] = []
    try:
        if isinstance(svc.index, IndexMaintenance):
            while (tenant := svc.index.maintain()) is not None:
                built.append(tenant)
                err.print(f"maintain: built the vector index of tenant {tenant}")
    finally:
        svc.close()
    err.print(f"maintain: {len(built)} index(es) built")


@app.command()
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

    svc = _services()
    try:
        report = ReconcileService(svc.store, svc.index, svc.embedder, svc.index_sync).run(
            repair=repair
        )
    finally:
        svc.close()
    if as_json:
        _print_json(report.as_dict())
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


# ----------------------------------------------------------------------- eval ---
@app.command("eval")
def eval_(
    dataset_dir: Annotated[
        Path, typer.Argument(help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[
        str, typer.Option("--split", help="qrels file to score (test; tune on train).")
    ] = "test",
    modes: Annotated[
        str, typer.Option("--modes", help="Comma-separated modes.")
    ] = "dense,sparse,hybrid",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Keep/reuse the index here.")
    ] = None,
    max_queries: Annotated[int | None, typer.Option("--max-queries", min=1)] = None,
    rrf_k: Annotated[int | None, typer.Option("--rrf-k", min=1)] = None,
    dense_weight: Annotated[float | None, typer.Option("--dense-weight", min=0)] = None,
    sparse_weight: Annotated[float | None, typer.Option("--sparse-weight", min=0)] = None,
    answers: Annotated[
        bool,
        typer.Option("--answers", help="Also answer every query and measure citation precision."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality (nDCG@10, recall@10/100, MRR@10) per mode, and with
    --answers the precision of the answers' citations (LLM_PROVIDER picks the model)."""
    from ragd.services.evaluation import EvalReport, load_beir, run_answers, run_queries

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in ("dense", "sparse", "hybrid")]
    if bad or not mode_list:
        raise InvalidRequest(f"--modes takes dense, sparse, hybrid; got {modes!r}")
    dataset = load_beir(dataset_dir, split)
    if max_queries:
        dataset = type(dataset)(
            dataset.root, dict(list(dataset.queries.items())[:max_queries]), dataset.qrels
        )
    throwaway = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="ragd-eval-")) if throwaway else data_dir
    assert workdir is not None
    base = get_settings()
    overrides: dict[str, Any] = {
        "data_dir": workdir,
        # pgvector: evaluate in the configured DATABASE_URL (use a scratch database).
        "database_url": None if base.vector_store_type == "sqlite" else base.database_url,
        "max_retrieval_results": 1000,
        "fusion_candidates": 200,
    }
    for key, value in (
        ("rrf_k", rrf_k),
        ("rrf_dense_weight", dense_weight),
        ("rrf_sparse_weight", sparse_weight),
    ):
        if value is not None:
            overrides[key] = value
    settings = base.model_copy(update=overrides)
    try:
        svc = _services(settings)
        tenant = TenantId("eval")
        t0 = time.monotonic()
        report = svc.ingest.submit_path(tenant, dataset.corpus)
        queued = sum(1 for s in report if s.outcome in ("queued", "replaced"))
        if queued:
            _drain(svc, queued, quiet=as_json)
        ingest_seconds = time.monotonic() - t0
        qrels = {q: r for q, r in dataset.qrels.items() if q in dataset.queries}
        dataset = type(dataset)(dataset.root, dataset.queries, qrels)
        ev = EvalReport(
            str(dataset_dir),
            split,
            svc.store.count_documents(tenant),
            svc.store.count_chunks(tenant),
            ingest_seconds,
        )
        for mode in mode_list:
            ev.modes.append(run_queries(svc.search, tenant, dataset, mode))  # type: ignore[arg-type]
        if answers:
            ev.answers = run_answers(svc.answers, tenant, dataset)
        svc.close()
    finally:
        if throwaway:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        _print_json(ev.as_dict())
        return
    table = Table(
        title=f"{dataset_dir} · {split} · {len(dataset.queries)} queries · "
        f"{ev.documents} docs / {ev.chunks} chunks",
        title_justify="left",
    )
    for col in ("mode", "nDCG@10", "recall@10", "recall@100", "MRR@10", "p50 ms", "p95 ms"):
        table.add_column(col, justify="right")
    for m in ev.modes:
        table.add_row(
            m.mode,
            *(f"{m.metrics[k]:.4f}" for k in ("ndcg@10", "recall@10", "recall@100", "mrr@10")),
            f"{m.latency_ms_p50:.1f}",
            f"{m.latency_ms_p95:.1f}",
        )
    out.print(table)
    if ev.answers:
        a = ev.answers.as_dict()
        out.print(
            f"answers ({a['model']}): citation precision {a['citation_precision']:.4f} over "
            f"{a['citations']} citations · supported {a['supported_share']:.2%} · precision of "
            f"supported {a['supported_citation_precision']:.4f} · "
            f"{a['answered_with_citations']}/{a['queries']} answers cite · "
            f"p50 {a['latency_ms_p50']:.0f} ms, p95 {a['latency_ms_p95']:.0f} ms",
            highlight=False,
        )


# ---------------------------------------------------------------------- admin ---
def _issued_json(issued: Any) -> dict[str, Any]:
    k = issued.key
    return {"key_id": k.id, "tenant_id": k.tenant_id, "user_id": k.user_id, "key": issued.plaintext}


@admin_app.command("create-platform-admin")
def admin_create_platform_admin(
    name: Annotated[str, typer.Option("--name")] = "platform-admin",
) -> None:
    """Create a platform administrator and print their API key (shown once)."""
    created = _services().account_admin.ensure_platform_admin(name)
    _print_json(_issued_json(created.key))


@admin_app.command("create-tenant")
def admin_create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="Lower-case id, e.g. acme")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    admin_email: Annotated[str | None, typer.Option("--admin-email")] = None,
) -> None:
    """Create a tenant with its first tenant admin; prints the admin's API key (once)."""
    created = _services().account_admin.create_tenant(tenant_id, name=name, admin_email=admin_email)
    _print_json(_issued_json(created.key))


@admin_app.command("tenants")
def admin_tenants() -> None:
    """List tenants."""
    for t in _services().accounts.list_tenants():
        out.print(f"{t.id}  [dim]{t.status.value}  {t.name}[/]", highlight=False)


@admin_app.command("create-user")
def admin_create_user(
    tenant: Annotated[str, typer.Option("--tenant")],
    name: Annotated[str, typer.Option("--name")],
    role: Annotated[str, typer.Option("--role", help="reader | editor | tenant_admin")] = "reader",
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """Create a user and a first API key for them (printed once)."""
    from ragd.domain.accounts import Role

    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}") from None
    svc = _services()
    user = svc.account_admin.create_user(
        TenantId(tenant), name, email, parsed, by=Role.PLATFORM_ADMIN
    )
    _print_json(_issued_json(svc.account_admin.issue_key(TenantId(tenant), user.id)))


@admin_app.command("revoke-key")
def admin_revoke_key(key_id: str, tenant: Annotated[str, typer.Option("--tenant")]) -> None:
    """Revoke an API key at once."""
    _services().accounts.revoke_key(TenantId(tenant), key_id)
    out.print(f"revoked {key_id}")


# ---------------------------------------------------------------------- glue ---
def _doc_json(d: Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "source": d.source,
        "status": d.status.value,
        "error": d.error,
        "chunks": d.chunk_count,
        "media_type": d.media_type,
        "size_bytes": d.size_bytes,
        "content_hash": d.content_hash,
        "version": d.version,
        "metadata": d.metadata,
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
    }


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


_EXIT_CODES: list[tuple[type[RagdError], int]] = [
    (NotFound, 4),
    (ConfigError, 3),
    (InvalidRequest, 2),
]


def main() -> None:
    """Console-script entry point: ragd errors become a message and an exit code."""
    try:
        rc = app(standalone_mode=False)  # click returns the code of typer.Exit here
        sys.exit(rc if isinstance(rc, int) else 0)
    except RagdError as exc:
        code = next((c for t, c in _EXIT_CODES if isinstance(exc, t)), 1)
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(code)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        err.print(f"[red]configuration error:[/] {problems}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
