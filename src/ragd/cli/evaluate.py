"""``ragd eval``: retrieval quality (and optionally citation precision) on a BEIR dataset,
or retrieval and answer quality on a QA set (``docs.jsonl`` + ``qa.jsonl``), indexed into
a throwaway (or kept) data directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ragd.cli.common import JsonOpt, out, print_json, services
from ragd.cli.documents import drain
from ragd.config import get_settings
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.services.search import GRAPH_MODES, MODES

if TYPE_CHECKING:
    from ragd.config import Settings
    from ragd.services.assembly import Services


def eval_(
    dataset_dir: Annotated[
        Path,
        typer.Argument(
            help="BEIR layout (corpus.jsonl, queries.jsonl, qrels/) or a QA set "
            "(docs.jsonl, qa.jsonl)."
        ),
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
        bool | None,
        typer.Option(
            "--answers/--no-answers",
            help="Also answer every query: citation precision (BEIR; off by default), "
            "answer containment (QA sets; on by default).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval quality per mode: nDCG@10, recall@10/100, MRR@10 on a BEIR
    dataset, answer recall@5 and document hits on a QA set. Answers (LLM_PROVIDER picks
    the model): citation precision (BEIR, with --answers), or answer containment and the
    share of answers citing a passage without the answer (QA sets)."""
    from ragd.services.evaluation import EvalReport, load_beir, run_answers, run_queries
    from ragd.services.qa_evaluation import is_qa_dataset

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if bad or not mode_list:
        raise InvalidRequest(f"--modes takes {', '.join(MODES)}; got {modes!r}")
    fusion: dict[str, Any] = {
        "rrf_k": rrf_k,
        "rrf_dense_weight": dense_weight,
        "rrf_sparse_weight": sparse_weight,
    }
    if any(m in GRAPH_MODES for m in mode_list):
        fusion["graph_enabled"] = True  # graph modes: the graph is built after indexing
    if is_qa_dataset(dataset_dir):
        _eval_qa(dataset_dir, mode_list, data_dir, max_queries, fusion, answers, as_json)
        return
    dataset = load_beir(dataset_dir, split)
    if max_queries:
        dataset = type(dataset)(
            dataset.root, dict(list(dataset.queries.items())[:max_queries]), dataset.qrels
        )
    throwaway = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="ragd-eval-")) if throwaway else data_dir
    assert workdir is not None
    try:
        svc = services(_settings(workdir, fusion))
        tenant = TenantId("eval")
        ingest_seconds = _ingest(svc, tenant, dataset.corpus, quiet=as_json)
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


def _settings(workdir: Path, fusion: dict[str, Any]) -> Settings:
    """The configured settings, pointed at ``workdir``, with room for deep result lists
    and the fusion options given on the command line (and the graph on for graph modes)."""
    base = get_settings()
    overrides: dict[str, Any] = {
        "data_dir": workdir,
        # pgvector: evaluate in the configured DATABASE_URL (use a scratch database).
        "database_url": None if base.vector_store_type == "sqlite" else base.database_url,
        "max_retrieval_results": 1000,
        "fusion_candidates": 200,
    }
    overrides.update({k: v for k, v in fusion.items() if v is not None})
    return base.model_copy(update=overrides)


def _ingest(svc: Services, tenant: TenantId, corpus: Path, *, quiet: bool) -> float:
    """Submit the corpus (unchanged records are skipped) and index it; seconds taken."""
    t0 = time.monotonic()
    report = svc.ingest.submit_path(tenant, corpus)
    queued = sum(1 for s in report if s.outcome in ("queued", "replaced"))
    if queued:
        drain(svc, queued, quiet=quiet)
    if svc.graph_build is not None:  # an index built without the graph is enriched
        svc.graph_build.build()
    return time.monotonic() - t0


def _eval_qa(
    root: Path,
    modes: list[str],
    data_dir: Path | None,
    max_queries: int | None,
    fusion: dict[str, Any],
    answers: bool | None,
    as_json: bool,
) -> None:
    from ragd.services.qa_evaluation import load_qa, run_qa_answers, run_qa_retrieval

    dataset = load_qa(root)
    if max_queries:
        dataset = type(dataset)(dataset.root, dataset.items[:max_queries])
    throwaway = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="ragd-eval-")) if throwaway else data_dir
    assert workdir is not None
    try:
        svc = services(_settings(workdir, fusion))
        tenant = TenantId("eval")
        ingest_seconds = _ingest(svc, tenant, dataset.corpus, quiet=as_json)
        reports = [run_qa_retrieval(svc.search, tenant, dataset, m) for m in modes]  # type: ignore[arg-type]
        answer_report = (
            run_qa_answers(svc.answers, tenant, dataset) if answers is not False else None
        )
        result: dict[str, Any] = {
            "dataset": str(root),
            "questions": len(dataset.items),
            "documents": svc.store.count_documents(tenant),
            "chunks": svc.store.count_chunks(tenant),
            "ingest_seconds": round(ingest_seconds, 1),
            "modes": {r.mode: r.as_dict() for r in reports},
            **({"answers": answer_report.as_dict()} if answer_report else {}),
        }
        svc.close()
    finally:
        if throwaway:
            shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        print_json(result)
        return
    table = Table(
        title=f"{root} · {result['questions']} questions · "
        f"{result['documents']} docs / {result['chunks']} chunks",
        title_justify="left",
    )
    columns = ("answer_recall@5", "doc_hit@1", "doc_hit@5", "doc_hit@10")
    for col in ("mode", *columns, "p50 ms", "p95 ms"):
        table.add_column(col, justify="right")
    for r in reports:
        d = r.as_dict()
        table.add_row(
            r.mode,
            *(f"{d[c]:.4f}" for c in columns),
            f"{r.latency_ms_p50:.1f}",
            f"{r.latency_ms_p95:.1f}",
        )
    out.print(table)
    if answer_report:
        a = answer_report.as_dict()
        out.print(
            f"answers ({a['model']}): containment {a['containment']:.4f} · "
            f"{a['answered']}/{a['questions']} answered, {a['answer_words_mean']} words "
            f"on average · citing a passage without the "
            f"answer {a['stray_share']:.2%} of answers · "
            f"p50 {a['latency_ms_p50']:.0f} ms, p95 {a['latency_ms_p95']:.0f} ms",
            highlight=False,
        )
