"""The extractive answerer: no model, always available, never makes anything up.

It answers with the passages' own sentences that best match the question (BM25 over the
sentences of the retrieved passages, with a small preference for higher-ranked passages),
each followed by its ``[n]``. Because every sentence is quoted verbatim, every citation it
makes verifies. It is the default LLM when nothing else is configured, and the last step
of a fallback chain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragd.domain.text import content_terms, split_sentences
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings

MODEL = "ragd-extractive"
MAX_SENTENCES = 3
MAX_PER_PASSAGE = 2
MIN_CHARS = 25
MAX_CHARS = 600
RANK_DECAY = 0.15
"""Score multiplier 1 / (1 + RANK_DECAY * rank): ties go to the better-ranked passage."""


@dataclass(frozen=True)
class _Candidate:
    passage: int
    position: int
    text: str
    terms: Counter[str]


class ExtractiveLLM:
    @property
    def model(self) -> str:
        return MODEL

    @property
    def context_window(self) -> int:
        return 1_000_000  # reads whatever it is given; the prompt budget never binds

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))

    def complete(self, request: GenerationRequest) -> Completion:
        parts = self._select(request)
        text = " ".join(parts)
        return Completion(
            text=text,
            model=MODEL,
            usage=Usage(
                prompt_tokens=self.count_tokens(request.question)
                + sum(self.count_tokens(p) for p in request.passages),
                completion_tokens=self.count_tokens(text) if text else 0,
            ),
        )

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        completion = self.complete(request)
        parts = completion.text.split(" ") if completion.text else []
        for i, word in enumerate(parts):
            yield word if i == 0 else " " + word
        yield completion

    def _select(self, request: GenerationRequest) -> list[str]:
        candidates = _candidates(request.passages)
        if not candidates:
            return []
        query = Counter(content_terms(request.question))
        scores = _bm25(query, candidates)
        ranked = sorted(
            range(len(candidates)),
            key=lambda i: scores[i] / (1 + RANK_DECAY * candidates[i].passage),
            reverse=True,
        )
        if not query or scores[ranked[0]] <= 0:
            first = candidates[0]  # nothing matches word for word: lead with the top passage
            return [f"{first.text} [{first.passage + 1}]"]
        best = scores[ranked[0]] / (1 + RANK_DECAY * candidates[ranked[0]].passage)
        chosen: list[_Candidate] = []
        per_passage: Counter[int] = Counter()
        for i in ranked:
            c = candidates[i]
            score = scores[i] / (1 + RANK_DECAY * c.passage)
            if len(chosen) == MAX_SENTENCES or score < 0.4 * best:
                break
            if per_passage[c.passage] >= MAX_PER_PASSAGE or _near_duplicate(c, chosen):
                continue
            chosen.append(c)
            per_passage[c.passage] += 1
        chosen.sort(key=lambda c: (c.passage, c.position))
        return [f"{c.text} [{c.passage + 1}]" for c in chosen]


def _candidates(passages: Sequence[str]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for p, passage in enumerate(passages):
        for pos, s in enumerate(split_sentences(str(passage))):
            text = " ".join(s.text.split())
            if MIN_CHARS <= len(text) <= MAX_CHARS:
                out.append(_Candidate(p, pos, text, Counter(content_terms(text))))
    if not out:  # only very short or very long sentences: take them anyway
        for p, passage in enumerate(passages):
            text = " ".join(str(passage).split())[:MAX_CHARS]
            if text:
                out.append(_Candidate(p, 0, text, Counter(content_terms(text))))
    return out


def _bm25(
    query: Counter[str], candidates: list[_Candidate], k1: float = 1.2, b: float = 0.75
) -> list[float]:
    n = len(candidates)
    df: Counter[str] = Counter()
    for c in candidates:
        df.update(set(c.terms))
    avg = sum(sum(c.terms.values()) for c in candidates) / n or 1.0
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query if df[t]}
    scores = []
    for c in candidates:
        length = sum(c.terms.values())
        s = 0.0
        for t, w in idf.items():
            tf = c.terms.get(t, 0)
            if tf:
                s += w * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
        scores.append(s)
    return scores


def _near_duplicate(c: _Candidate, chosen: list[_Candidate]) -> bool:
    mine = set(c.terms)
    for other in chosen:
        theirs = set(other.terms)
        union = mine | theirs
        if union and len(mine & theirs) / len(union) > 0.8:
            return True
    return False


def build(llm: LLMSettings) -> ExtractiveLLM:  # noqa: ARG001 - a local LLM's signature
    """The adapter for ``LLM_PROVIDER=extractive``: no model, so nothing in ``llm`` to read
    (it takes the section as every local provider's builder does)."""
    return ExtractiveLLM()
