"""``ragd graph``: build the knowledge graph of an existing index, inspect it, and keep a
Neo4j replica in step (``sync``, ``reconcile``)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ragd.cli.common import JsonOpt, TenantOpt, err, out, print_json, services
from ragd.config import get_settings
from ragd.domain.models import DEFAULT_TENANT, TenantId
from ragd.errors import ConfigError
from ragd.services.graph_build import GraphBuildResult


def graph_build(
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Build at most this many documents.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Extract entities and relations from every indexed document whose graph is missing
    or stale (all tenants). Resumable and idempotent: run it again after a stop, or after
    RAGD_GRAPH_EXTRACTOR changes, and it does only what is left."""
    settings = get_settings().model_copy(update={"graph_enabled": True})
    svc = services(settings)
    assert svc.graph_build is not None
    t0 = time.monotonic()
    done = 0

    def progress(one: GraphBuildResult) -> None:
        nonlocal done
        done += one.documents
        if not as_json and done and done % 50 == 0:
            rate = done / max(time.monotonic() - t0, 1e-9)
            err.print(f"[dim]{done} documents · {rate:.1f} docs/s[/]")

    result = svc.graph_build.build(limit=limit, on_document=progress)
    if svc.graph_sync is not None:
        svc.graph_sync.drain()
    svc.close()
    report = {
        "documents": result.documents,
        "chunks": result.chunks,
        "cached_chunks": result.cached_chunks,
        "skipped": result.skipped,
        "entity_vectors": result.entity_vectors,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": round(result.cost_usd, 6),
        "extractor": svc.graph_build.extractor.id,
        "seconds": round(result.seconds, 2),
    }
    if as_json:
        print_json(report)
        return
    out.print(
        f"graph built for {result.documents} documents ({result.chunks} chunks, "
        f"{result.cached_chunks} from the cache, {result.entity_vectors} entity names "
        f"embedded) by {report['extractor']} in {result.seconds:.1f} s"
        + (
            f" · {result.prompt_tokens + result.completion_tokens} tokens, ${result.cost_usd:.4f}"
            if result.prompt_tokens
            else ""
        )
        + (f" · {result.skipped} changed meanwhile (built later)" if result.skipped else ""),
        highlight=False,
    )


def graph_stats(tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """How big the tenant's graph is."""
    svc = services()
    assert svc.graph is not None
    s = svc.graph.stats(TenantId(tenant))
    pending = len(svc.graph.pending_documents(100_000))
    svc.close()
    report = {
        "entities": s.entities,
        "relations": s.relations,
        "links": s.links,
        "documents": s.documents,
        "pending_documents_all_tenants": pending,
    }
    if as_json:
        print_json(report)
        return
    for key, value in report.items():
        out.print(f"{key}: {value}")


def graph_sync(as_json: JsonOpt = False) -> None:
    """Apply the graph outbox to Neo4j (RAGD_GRAPH_STORE=neo4j) until none is left."""
    svc = services()
    if svc.graph_sync is None:
        raise ConfigError("graph sync needs RAGD_GRAPH_ENABLED=true and RAGD_GRAPH_STORE=neo4j")
    applied = svc.graph_sync.drain()
    backlog = svc.graph_sync.backlog()
    svc.close()
    if as_json:
        print_json({"applied": applied, "backlog": backlog})
        return
    out.print(f"applied {applied} graph outbox rows; {backlog} pending")


def graph_reconcile(
    repair: Annotated[bool, typer.Option("--repair", help="Rewrite what differs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare the Neo4j replica with the Store's graph tables, document by document, and
    with --repair rewrite the documents that differ."""
    svc = services()
    if svc.graph_sync is None:
        raise ConfigError(
            "graph reconcile needs RAGD_GRAPH_ENABLED=true and RAGD_GRAPH_STORE=neo4j"
        )
    found = svc.graph_sync.reconcile(repair=repair)
    svc.close()
    if as_json:
        print_json(found)
        return
    out.print(", ".join(f"{k}: {v}" for k, v in found.items()))
