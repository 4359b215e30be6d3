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

    def as_dict(self) -> dict[str, object]:
        return {
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
        _pct(latencies, 50),
        _pct(latencies, 95),
        len(dataset.queries),
    )


def _pct(values: Sequence[float], p: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
