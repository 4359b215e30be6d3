"""``ragd eval`` on a QA set (``docs.jsonl`` + ``qa.jsonl``): passages and answers scored
against gold answer spans, the way COVID-QA's development half says to score it.

Retrieval is judged by *answer recall@5* (a gold span inside one of the top-5 passages)
and document hits; answers by *containment* (the answer's text holds a gold span) and by
the share of answers that quote a passage not holding the answer: an answer can contain
the span and still pad it with sentences from elsewhere, which a reader sees as noise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ragd.domain.answer import NO_ANSWER
from ragd.domain.models import TenantId
from ragd.domain.qa import answer_recall, document_hit, holds_answer
from ragd.domain.text import strip_citations
from ragd.errors import InvalidRequest
from ragd.ports.index import Mode
from ragd.services.answer import AnswerService
from ragd.services.evaluation import pct
from ragd.services.search import SearchService

MAX_QA_LINE = 1_000_000
"""Longest line read from ``qa.jsonl`` (a question with its answers is a few KB)."""


@dataclass(frozen=True)
class QaItem:
    id: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]


@dataclass(frozen=True)
class QaDataset:
    root: Path
    items: tuple[QaItem, ...]

    @property
    def corpus(self) -> Path:
        return self.root / "docs.jsonl"


def is_qa_dataset(root: Path) -> bool:
    return (root / "docs.jsonl").is_file() and (root / "qa.jsonl").is_file()


def load_qa(root: Path) -> QaDataset:
    """Read ``qa.jsonl``; each bad line is an ``InvalidRequest`` naming its line."""
    if not is_qa_dataset(root):
        raise InvalidRequest(f"{root}: a QA dataset has docs.jsonl and qa.jsonl")
    items: list[QaItem] = []
    with (root / "qa.jsonl").open(encoding="utf-8") as fh:
        for n, line in enumerate(iter(lambda: fh.readline(MAX_QA_LINE + 1), ""), start=1):
            if len(line) > MAX_QA_LINE:
                raise InvalidRequest(f"qa.jsonl line {n} is longer than {MAX_QA_LINE} characters")
            if not line.strip():
                continue
            items.append(_item(line, n))
    if not items:
        raise InvalidRequest(f"{root / 'qa.jsonl'} holds no questions")
    return QaDataset(root, tuple(items))


def _item(line: str, n: int) -> QaItem:
    try:
        obj = json.loads(line)
        question, answers, docs = obj["question"], obj["answers"], obj.get("doc_ids", [])
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ValueError("answers must be a list of strings")
        if not isinstance(docs, list):
            raise ValueError("doc_ids must be a list")
        return QaItem(str(obj.get("id", n)), question, tuple(answers), tuple(map(str, docs)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidRequest(f"qa.jsonl line {n}: {exc}") from None


@dataclass
class QaModeReport:
    mode: Mode
    questions: int
    answer_recall_5: float
    doc_hit_1: float
    doc_hit_5: float
    doc_hit_10: float
    latency_ms_p50: float
    latency_ms_p95: float

    def as_dict(self) -> dict[str, object]:
        return {
            "answer_recall@5": round(self.answer_recall_5, 4),
            "doc_hit@1": round(self.doc_hit_1, 4),
            "doc_hit@5": round(self.doc_hit_5, 4),
            "doc_hit@10": round(self.doc_hit_10, 4),
            "latency_ms_p50": round(self.latency_ms_p50, 1),
            "latency_ms_p95": round(self.latency_ms_p95, 1),
            "questions": self.questions,
        }


def run_qa_retrieval(
    search: SearchService,
    tenant: TenantId,
    dataset: QaDataset,
    mode: Mode,
    *,
    on_query: Callable[[], None] | None = None,
) -> QaModeReport:
    """Answer recall@5 and document hit@1/5/10 of one retrieval mode."""
    recall = hit1 = hit5 = hit10 = 0
    latencies: list[float] = []
    for item in dataset.items:
        t0 = time.perf_counter()
        hits = search.search(tenant, item.question, mode=mode, k=10).hits
        latencies.append((time.perf_counter() - t0) * 1e3)
        docs = [str(h.metadata.get("external_id", h.document_id)) for h in hits]
        recall += answer_recall([h.text for h in hits], item.answers, 5)
        hit1 += document_hit(docs, item.doc_ids, 1)
        hit5 += document_hit(docs, item.doc_ids, 5)
        hit10 += document_hit(docs, item.doc_ids, 10)
        if on_query:
            on_query()
    n = len(dataset.items)
    return QaModeReport(
        mode, n, recall / n, hit1 / n, hit5 / n, hit10 / n, pct(latencies, 50), pct(latencies, 95)
    )


@dataclass
class QaAnswerReport:
    model: str
    questions: int = 0
    answered: int = 0
    """Answers other than the refusal (``NO_ANSWER``)."""
    containing: int = 0
    """Answers whose text holds a gold span."""
    stray: int = 0
    """Answers citing a passage that holds no gold span."""
    cited_passage_holds: int = 0
    """Answers with at least one cited passage that holds a gold span."""
    words: int = 0
    """Words of the answers given, citations left out: containment rises with length (a
    whole passage would contain most answers), so the mean is reported beside it."""
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0

    def as_dict(self) -> dict[str, object]:
        n, a = self.questions or 1, self.answered or 1
        return {
            "model": self.model,
            "questions": self.questions,
            "answered": self.answered,
            "containment": round(self.containing / n, 4),
            "stray_share": round(self.stray / a, 4),
            "cited_passage_holds_answer": round(self.cited_passage_holds / n, 4),
            "answer_words_mean": round(self.words / a, 1),
            "latency_ms_p50": round(self.latency_ms_p50, 1),
            "latency_ms_p95": round(self.latency_ms_p95, 1),
        }


def run_qa_answers(
    answers: AnswerService,
    tenant: TenantId,
    dataset: QaDataset,
    *,
    mode: Mode = "hybrid",
    on_query: Callable[[], None] | None = None,
) -> QaAnswerReport:
    """Containment (over every question) and the stray share (over the answers given)."""
    report = QaAnswerReport(answers.llm.model)
    latencies: list[float] = []
    for item in dataset.items:
        t0 = time.perf_counter()
        answer = answers.answer(tenant, item.question, mode=mode)
        latencies.append((time.perf_counter() - t0) * 1e3)
        report.questions += 1
        if answer.text.strip() and answer.text != NO_ANSWER:
            report.answered += 1
            quoted = strip_citations(answer.text)
            report.words += len(quoted.split())
            report.containing += holds_answer(quoted, item.answers)
            cited = {c.n for c in answer.citations}
            holding = [holds_answer(answer.passages[n - 1].text, item.answers) for n in cited]
            report.stray += not all(holding)
            report.cited_passage_holds += any(holding)
        if on_query:
            on_query()
    report.latency_ms_p50 = pct(latencies, 50)
    report.latency_ms_p95 = pct(latencies, 95)
    return report
