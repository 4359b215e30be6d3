"""``ragd eval``: retrieval quality (and optionally citation precision) on a BEIR dataset,
indexed into a throwaway (or kept) data directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragd.cli.common import JsonOpt, out, print_json, services
from ragd.cli.documents import drain
from ragd.config import get_settings
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.services.search import GRAPH_MODES, MODES


def eval_(
    dataset_dir: Annotated[
        Path, typer.Argument(help="BEIR layout: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    split: Annotated[
        str, typer.Option("--split", help="qrels file to score (test; tune on train).")
    ] = "test",
    modes: Annotated[
        str,
        typer.Option(
            "--modes", help="Comma-separated: dense, sparse, hybrid, graph, hybrid+graph."
        ),
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
    bad = [m for m in mode_list if m not in MODES]
    if bad or not mode_list:
        raise InvalidRequest(f"--modes takes {', '.join(MODES)}; got {modes!r}")
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
    if any(m in GRAPH_MODES for m in mode_list):
        overrides["graph_enabled"] = True  # graph modes: the graph is built after indexing
    for key, value in (
        ("rrf_k", rrf_k),
        ("rrf_dense_weight", dense_weight),
        ("rrf_sparse_weight", sparse_weight),
    ):
        if value is not None:
            overrides[key] = value
    settings = base.model_copy(update=overrides)
    try:
        svc = services(settings)
        tenant = TenantId("eval")
        t0 = time.monotonic()
        report = svc.ingest.submit_path(tenant, dataset.corpus)
        queued = sum(1 for s in report if s.outcome in ("queued", "replaced"))
        if queued:
            drain(svc, queued, quiet=as_json)
        if svc.graph_build is not None:  # an index built without the graph is enriched
            svc.graph_build.build()
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
        print_json(ev.as_dict())
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
