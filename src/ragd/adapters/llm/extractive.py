"""The extractive answerer: no generative model, always available, never makes anything up.

It answers with the passages' own sentences, each followed by its ``[n]``, so every
citation it makes verifies. Which sentences: each sentence of the retrieved passages is
scored for relevance to the question, by BM25 over the sentences (the question's words)
and, when the container gave it the embedder, by the cosine of the sentence's embedding
with the question's (the words it means). Only the few sentences lexically close to the
best are embedded, and their vectors are kept across questions (``sentence_vectors``): the
model is the cost of an answer. ``domain.extract.select`` then keeps the best
one, its relevant neighbours, and little else, and declines (``NO_ANSWER``) when nothing is
relevant enough. It is the default LLM when nothing else is configured, and the last step
of a fallback chain.

Weights and thresholds were tuned on covidqa-dev (bench/tune_extractive.py, figures in
bench/README.md); SciFact was not used.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragd.adapters.llm import sentence_vectors
from ragd.adapters.llm.sentence_vectors import SentenceVectors
from ragd.domain.answer import NO_ANSWER
from ragd.domain.extract import Scored, SelectionPolicy, select
from ragd.domain.text import content_terms, split_sentences
from ragd.ports.embedder import Embedder
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings

MODEL = "ragd-extractive"
_REFERENCE = re.compile(r"\[\d{1,3}(?:\s*[,\u2013-]\s*\d{1,3})*\]")
_WORDS = re.compile(r"\S+")
MIN_CHARS = 25
MAX_CHARS = 1000
"""Longer sentences are left out (tables and reference lists run together read as one);
600 lost 1.3 % of covid-dev's answers that lie in one sentence."""
SCAN_CHARS = 20_000
"""Only this much of a passage is split into sentences: a chunk is at most a few thousand
characters, so this binds only on a caller's oversized passage (time and memory bounded)."""
MAX_QUESTION_CHARS = 2_000
"""The question as scored (the embedder reads 256 tokens of it at most anyway)."""
RANK_DECAY = 0.2
"""Relevance multiplier 1 / (1 + RANK_DECAY * rank): near-ties go to the better passage."""
LEXICAL_SHARE = 0.5
"""Relevance = this share of the sentence's BM25 (relative to the best sentence's) plus
the rest of its cosine with the question (when an embedder is attached)."""
EMBED_TOP = 4
"""Most sentences embedded per question: the lexically best, each at least
``EMBED_MIN_LEXICAL`` × the best lexical score (~2.5 a question on covid-dev). Embedding is
~0.3 ms a token here, so embedding every lexical top-16 sentence and each passage's first
(~17 a question) was ~87 % of a ``/query``; on covid-dev at equal answer length the
narrower set answers as well (bench/README.md, issue 22)."""
EMBED_MIN_LEXICAL = 0.6
EMBED_CHARS = 400
"""A sentence is embedded from its first this many characters (~100 tokens): bounds the
model's cost for the long ones (up to ``MAX_CHARS``); covid-dev's answers were the same
at 250, 400 and 1,000."""
POLICY = SelectionPolicy()


@dataclass(frozen=True)
class _Candidate:
    passage: int
    position: int
    text: str
    terms: Counter[str]


class ExtractiveLLM:
    def __init__(
        self,
        policy: SelectionPolicy = POLICY,
        lexical_share: float = LEXICAL_SHARE,
        cache_size: int = sentence_vectors.CAPACITY,
    ):
        self._vectors: SentenceVectors | None = None
        self.policy = policy
        self.lexical_share = lexical_share
        self.cache_size = cache_size
        """Sentence vectors kept across questions (``sentence_vectors``); 0: none."""

    def use_embedder(self, embedder: Embedder) -> None:
        """Score sentences by meaning too (``ports.llm.UsesEmbedder``)."""
        self._vectors = SentenceVectors(embedder, self.cache_size)

    @property
    def model(self) -> str:
        return MODEL

    @property
    def context_window(self) -> int:
        return 1_000_000  # reads whatever it is given; the prompt budget never binds

    def count_tokens(self, text: str) -> int:
        """Words, counted without splitting (a 1 MB passage would be 150k strings)."""
        return max(1, sum(1 for _ in _WORDS.finditer(text)))

    def complete(self, request: GenerationRequest) -> Completion:
        parts = self._select(request)
        text = " ".join(parts) if parts else NO_ANSWER
        return Completion(
            text=text,
            model=MODEL,
            usage=Usage(
                prompt_tokens=self.count_tokens(request.question)
                + sum(self.count_tokens(p) for p in request.passages),
                completion_tokens=self.count_tokens(text),
            ),
        )

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        completion = self.complete(request)
        parts = completion.text.split(" ") if completion.text else []
        for i, word in enumerate(parts):
            yield word if i == 0 else " " + word
        yield completion

    def relevance(self, question: str, candidates: list[_Candidate]) -> list[float]:
        """Each candidate's relevance to the question, 0..1 (see the module docstring)."""
        query = Counter(content_terms(question[:MAX_QUESTION_CHARS]))
        lexical, coverage = _bm25(query, candidates)
        top = max(lexical, default=0.0)
        lex = [
            0.5 * (v / top if top > 0 else 0.0) + 0.5 * cov
            for v, cov in zip(lexical, coverage, strict=True)
        ]
        share = self.lexical_share if self._vectors is not None else 1.0
        semantic = [0.0] * len(candidates)
        if self._vectors is not None and share < 1.0:
            picked = _to_embed(lex)
            if picked:
                v = self._vectors.documents([candidates[i].text[:EMBED_CHARS] for i in picked])
                cos = v @ self._vectors.query(question[:MAX_QUESTION_CHARS])
                for i, c in zip(picked, cos.tolist(), strict=True):
                    semantic[i] = max(0.0, c)
        return [
            (share * lx + (1 - share) * sm) / (1 + RANK_DECAY * c.passage)
            for lx, sm, c in zip(lex, semantic, candidates, strict=True)
        ]

    def _select(self, request: GenerationRequest) -> list[str]:
        candidates = _candidates(request.passages)
        if not candidates:
            return []
        scores = self.relevance(request.question, candidates)
        scored = [
            Scored(c.passage, c.position, r, len(c.text.split()))
            for c, r in zip(candidates, scores, strict=True)
        ]
        chosen = [candidates[i] for i in select(scored, self.policy)]
        return [f"{c.text} [{c.passage + 1}]" for c in chosen]


def _to_embed(lex: list[float]) -> list[int]:
    """Which candidates get a sentence vector: the lexically best, at most ``EMBED_TOP``,
    each at least ``EMBED_MIN_LEXICAL`` × the best lexical score. The rest keep their
    lexical score alone: a sentence far behind on the question's words rarely wins on
    meaning alone, and its vector costs as much as any other's."""
    best = max(lex, default=0.0)
    if best <= 0:
        return []
    ranked = heapq.nlargest(EMBED_TOP, range(len(lex)), key=lex.__getitem__)
    return [i for i in ranked if lex[i] >= EMBED_MIN_LEXICAL * best]


def _quotable(text: str) -> str:
    """A sentence as quoted: whitespace collapsed, and the passage's own bracketed
    reference numbers (a paper's "[12]", "[3, 4]") put in parentheses, since the citation
    check would read "[12]" as a citation of retrieved passage 12. Kept rather than
    dropped: they are part of the quote (and of 4.6 % of covid-dev's gold answers)."""
    return " ".join(_REFERENCE.sub(_parenthesised, text).split())


def _parenthesised(m: re.Match[str]) -> str:
    return f"({m.group(0)[1:-1]})"


def _candidates(passages: Sequence[str]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for p, passage in enumerate(passages):
        for pos, s in enumerate(split_sentences(str(passage)[:SCAN_CHARS])):
            text = _quotable(s.text)
            if MIN_CHARS <= len(text) <= MAX_CHARS:
                out.append(_Candidate(p, pos, text, Counter(content_terms(text))))
    if not out:  # only very short or very long sentences: take them anyway
        for p, passage in enumerate(passages):
            text = _quotable(str(passage)[:SCAN_CHARS])[:MAX_CHARS]
            if text:
                out.append(_Candidate(p, 0, text, Counter(content_terms(text))))
    return out


def _bm25(
    query: Counter[str], candidates: list[_Candidate], k1: float = 1.2, b: float = 0.75
) -> tuple[list[float], list[float]]:
    """Each candidate's BM25 for the query (over the candidates as the collection), and
    its coverage: the IDF-weighted share of the query's words it holds (0..1), which,
    unlike BM25, means the same from one question to the next."""
    n = len(candidates)
    df: Counter[str] = Counter()
    for c in candidates:
        df.update(set(c.terms))
    avg = sum(sum(c.terms.values()) for c in candidates) / n or 1.0
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query}
    total = sum(idf.values()) or 1.0
    scores, coverage = [], []
    for c in candidates:
        length = sum(c.terms.values())
        s = held = 0.0
        for t, w in idf.items():
            tf = c.terms.get(t, 0)
            if tf:
                s += w * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
                held += w
        scores.append(s)
        coverage.append(held / total)
    return scores, coverage


def build(llm: LLMSettings) -> ExtractiveLLM:  # noqa: ARG001 - a local LLM's signature
    """The adapter for ``LLM_PROVIDER=extractive``: no model, so nothing in ``llm`` to read
    (it takes the section as every local provider's builder does)."""
    return ExtractiveLLM()
