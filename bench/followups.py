"""Follow-up questions on COVID-QA: answer recall@5 with and without the conversation.

Builds a follow-up set from ``covidqa-dev`` (see bench/README.md, "Follow-up questions"):
for each question whose named subject (an entity by ``ragd.domain.followup.entities``:
"MERS-CoV", "HIV-1", "Saudi Arabia"...) also occurs in an earlier question on the same
article, that earlier question is the first turn and the question, with the subject
replaced by a pronoun ("it", "its"), is the follow-up. Then, through the product's own
search service (default hybrid retrieval, k = 5) on an index of the 49 articles:

- ``original``: the question as written (the ceiling);
- ``no history``: the follow-up searched on its own words (what ragd did before);
- ``with history``: the follow-up searched with the stand-alone question that
  ``FollowUpRewriter`` makes from the first turn without a model (the extractive default);
- ``original with history``: the original question rewritten the same way, as if it had
  been asked second: the rewrite must not hurt a question that already stands alone.

Answer recall@5: a gold answer string occurs in the top-5 passages (lowercased, non
``[a-z0-9 ]`` characters to spaces, spaces collapsed: the dataset README's rule).

    RAGD_DATA_DIR=/tmp/covidqa-idx ragd ingest ../shared/data/covidqa-dev/docs.jsonl
    RAGD_DATA_DIR=/tmp/covidqa-idx .venv/bin/python bench/followups.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ragd.config import get_settings
from ragd.domain.followup import entities
from ragd.domain.models import DEFAULT_TENANT
from ragd.ports.llm import ChatMessage
from ragd.services.container import Services, build_services, migrate_database
from ragd.services.followups import FollowUpRewriter

DATA = Path(os.environ.get("RAGD_COVIDQA_DIR", "/work/shared/data/covidqa-dev"))
K = 5


@dataclass(frozen=True)
class Pair:
    first: str
    original: str
    followup: str
    answers: tuple[str, ...]
    doc_id: str


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


HEAD_NOUNS = frozenset(
    "virus viruses protein proteins gene genes vector vectors vaccine vaccines infection "
    "infections outbreak disease diseases cells patients strain strains".split()
)
LEADS = frozenset(
    "the of in for with and by to on is are was does do did about from against at among "
    "how what which why when where who".split()
)


def pronoun_for(question: str, start: int, end: int) -> tuple[int, int, str] | None:
    """The span to replace and its pronoun: "the X's" / "X's" -> "its", else "it";
    a leading "the" and a following head noun ("the 2019-nCoV virus") go with the entity.
    None when the entity is a modifier inside a phrase ("real time PCR") or an initial
    ("R. sinicus"), where a pronoun would not read as English."""
    before = question[:start]
    previous = before.split()[-1:] or [""]
    if previous[0] and previous[0].lower() not in LEADS:
        return None
    if question[end : end + 1] == ".":
        return None
    if before.lower().endswith("the "):
        start -= 4
    head = re.match(r" (?:[a-z\-]+ )?([a-z]+)\b", question[end:])
    if head and head.group(1) in HEAD_NOUNS:
        end += head.end()
    after = question[end:]
    if after.startswith("'s") or after.startswith("’s"):
        return start, end + 2, "its"
    return start, end, "it"


def build_pairs(qa: list[dict[str, object]]) -> list[Pair]:
    by_doc: dict[str, list[dict[str, object]]] = defaultdict(list)
    for rec in qa:
        by_doc[str(rec["doc_ids"][0])].append(rec)  # type: ignore[index]
    pairs: list[Pair] = []
    for doc_id, recs in by_doc.items():
        for i, rec in enumerate(recs):
            question = str(rec["question"]).strip()
            for ent in entities(question):
                earlier = [
                    str(r["question"]).strip()
                    for r in recs[:i]
                    if ent.lower() in str(r["question"]).lower()
                    and str(r["question"]).strip() != question
                ]
                if not earlier:
                    continue
                start = question.find(ent)
                span = pronoun_for(question, start, start + len(ent))
                if span is None or len(ent) < 3:
                    continue
                s, e, pronoun = span
                if s == 0:
                    pronoun = pronoun.capitalize()
                followup = question[:s] + pronoun + question[e:]
                pairs.append(
                    Pair(
                        first=earlier[-1],
                        original=question,
                        followup=followup,
                        answers=tuple(str(a) for a in rec["answers"]),  # type: ignore[attr-defined]
                        doc_id=doc_id,
                    )
                )
                break
    return pairs


def recall(svc: Services, query: str, answers: tuple[str, ...]) -> bool:
    hits = svc.search.search(DEFAULT_TENANT, query, k=K).hits
    text = normalise(" ".join(h.text for h in hits[:K]))
    return any(normalise(a) and normalise(a) in text for a in answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show", type=int, default=5, help="print this many example pairs")
    args = parser.parse_args()
    qa = [json.loads(line) for line in (DATA / "qa.jsonl").open(encoding="utf-8")]
    pairs = build_pairs(qa)
    settings = get_settings()
    migrate_database(settings)
    svc = build_services(settings)
    rewriter = FollowUpRewriter(None)
    t0 = time.perf_counter()
    scores = {"original": 0, "no_history": 0, "with_history": 0, "original_with_history": 0}
    examples = []
    for p in pairs:
        history = [ChatMessage("user", p.first)]
        standalone = rewriter.rewrite(DEFAULT_TENANT, p.followup, history).query
        original_rewritten = rewriter.rewrite(DEFAULT_TENANT, p.original, history).query
        got = {
            "original": recall(svc, p.original, p.answers),
            "no_history": recall(svc, p.followup, p.answers),
            "with_history": recall(svc, standalone, p.answers),
            "original_with_history": recall(svc, original_rewritten, p.answers),
        }
        for name, ok in got.items():
            scores[name] += ok
        if len(examples) < args.show:
            examples.append({"first": p.first, "followup": p.followup, "searched": standalone})
    every = sum(recall(svc, str(r["question"]), tuple(r["answers"])) for r in qa)
    n = len(pairs)
    report = {
        "pairs": n,
        "articles": len({p.doc_id for p in pairs}),
        "answer_recall@5": {name: round(v / n, 4) for name, v in scores.items()},
        "all_841_questions_recall@5": round(every / len(qa), 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "examples": examples,
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    svc.close()


if __name__ == "__main__":
    main()
