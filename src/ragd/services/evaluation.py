"""``ragd eval``: retrieval quality on a BEIR-layout dataset, per retrieval mode.

Chunks are what ragd retrieves; BEIR judges documents. A document's rank is the rank of
its best chunk, which is how a person reading the hits would see it.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragd.domain.metrics import evaluate_run
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.ports.index import Mode
from ragd.services.answer import AnswerService
from ragd.services.search import SearchService


@dataclass(frozen=True)
class BeirDataset:
    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def corpus(self) -> Path:
        return self.root / "corpus.jsonl"


def load_beir(root: Path, split: str = "test") -> BeirDataset:
    corpus, queries_file, qrels_file = (
        root / "corpus.jsonl",
        root / "queries.jsonl",
        root / "qrels" / f"{split}.tsv",
    )
    for f in (corpus, queries_file, qrels_file):
        if not f.is_file():
            raise InvalidRequest(
                f"{f} not found: a BEIR dataset has corpus.jsonl, queries.jsonl "
                f"and qrels/{split}.tsv"
            )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if len(row) < 3 or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries: dict[str, str] = {}
    with queries_file.open() as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                if str(obj["_id"]) in qrels:
                    queries[str(obj["_id"])] = obj["text"]
    return BeirDataset(root, queries, qrels)


@dataclass
class ModeReport:
    mode: Mode
    metrics: dict[str, float]
    latency_ms_p50: float
    latency_ms_p95: float
    queries: int


@dataclass
class EvalReport:
    dataset: str
    split: str
    documents: int
    chunks: int
    ingest_seconds: float
    modes: list[ModeReport] = field(default_factory=list)
    answers: CitationReport | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            **({"answers": self.answers.as_dict()} if self.answers else {}),
            "dataset": self.dataset,
            "split": self.split,
            "documents": self.documents,
            "chunks": self.chunks,
            "ingest_seconds": round(self.ingest_seconds, 1),
            "modes": {
                m.mode: {
                    **{k: round(v, 4) for k, v in m.metrics.items()},
                    "latency_ms_p50": round(m.latency_ms_p50, 1),
                    "latency_ms_p95": round(m.latency_ms_p95, 1),
                    "queries": m.queries,
                }
                for m in self.modes
            },
        }


def run_queries(
    search: SearchService,
    tenant: TenantId,
    dataset: BeirDataset,
    mode: Mode,
    *,
    depth: int = 100,
    on_query: Callable[[], None] | None = None,
) -> ModeReport:
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid, text in dataset.queries.items():
        t0 = time.perf_counter()
        result = search.search(tenant, text, mode=mode, k=min(search.max_k, depth * 2))
        latencies.append((time.perf_counter() - t0) * 1e3)
        ranked: list[str] = []
        for hit in result.hits:
            ext = str(hit.metadata.get("external_id", hit.document_id))
            if ext not in ranked:
                ranked.append(ext)
        run[qid] = ranked[:depth]
        if on_query:
            on_query()
    return ModeReport(
        mode,
        evaluate_run(run, dataset.qrels),
        pct(latencies, 50),
        pct(latencies, 95),
        len(dataset.queries),
    )


def pct(values: Sequence[float], p: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@dataclass
class CitationReport:
    """How often answers cite passages that the qrels call relevant."""

    model: str
    queries: int
    answered: int
    """Queries whose answer carries at least one citation."""
    citations: int
    relevant: int
    supported: int
    supported_relevant: int
    latency_ms_p50: float
    latency_ms_p95: float

    @property
    def precision(self) -> float:
        return self.relevant / self.citations if self.citations else 0.0

    @property
    def supported_precision(self) -> float:
        return self.supported_relevant / self.supported if self.supported else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "queries": self.queries,
            "answered_with_citations": self.answered,
            "citations": self.citations,
            "citation_precision": round(self.precision, 4),
            "supported_share": round(self.supported / self.citations, 4) if self.citations else 0,
            "supported_citation_precision": round(self.supported_precision, 4),
            "latency_ms_p50": round(self.latency_ms_p50, 1),
            "latency_ms_p95": round(self.latency_ms_p95, 1),
        }


def run_answers(
    answers: AnswerService,
    tenant: TenantId,
    dataset: BeirDataset,
    *,
    mode: Mode = "hybrid",
    on_query: Callable[[], None] | None = None,
) -> CitationReport:
    """Citation precision: the share of citations whose passage comes from a document the
    qrels judge relevant to the query (and the same among citations the checker kept)."""
    report = CitationReport(answers.llm.model, 0, 0, 0, 0, 0, 0, 0.0, 0.0)
    latencies: list[float] = []
    for qid, text in dataset.queries.items():
        t0 = time.perf_counter()
        answer = answers.answer(tenant, text, mode=mode)
        latencies.append((time.perf_counter() - t0) * 1e3)
        relevant = {d for d, grade in dataset.qrels.get(qid, {}).items() if grade > 0}
        report.queries += 1
        report.answered += bool(answer.citations)
        for c in answer.citations:
            hit = answer.passages[c.n - 1]
            is_relevant = str(hit.metadata.get("external_id", hit.document_id)) in relevant
            report.citations += 1
            report.relevant += is_relevant
            report.supported += c.supported
            report.supported_relevant += c.supported and is_relevant
        if on_query:
            on_query()
    report.latency_ms_p50 = pct(latencies, 50)
    report.latency_ms_p95 = pct(latencies, 95)
    return report
