"""Citation checking: every ``[n]`` must point at a retrieved passage that supports it.

Method (lexical support): the citing sentence's content words (stop words out, light
stemming; ``ragd.domain.text``) are compared with the cited passage's; the citation's
``support`` is the share of the sentence's words found in the passage, and it is
``supported`` when that share reaches ``min_support`` (``RAGD_CITATION_MIN_SUPPORT``,
0.5 by default). Lexical overlap is cheap (no model call on the answer path), explainable,
and strict in the right direction: a model that paraphrases freely gets flagged rather
than trusted. A number that names no passage cannot be mapped to a chunk and is removed
from the text; a citation to a real passage that does not support its sentence stays in
the text and is returned with ``supported: false``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragd.domain.answer import Citation
from ragd.domain.models import Hit
from ragd.domain.text import content_terms, split_sentences

_MARKER = re.compile(r"\[(\d{1,3})\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\d{1,3}\])+")


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    citations: list[Citation]
    dropped: int
    """Markers removed because they named no retrieved passage."""


def check_citations(text: str, passages: list[Hit], *, min_support: float) -> CheckedAnswer:
    text, dropped = _drop_unknown(text, len(passages))
    citations: list[Citation] = []
    for sentence, numbers in _cited_sentences(text):
        words = set(content_terms(_MARKER.sub(" ", sentence)))
        for n in dict.fromkeys(numbers):
            citations.append(_verify(sentence, words, n, passages[n - 1], min_support))
    return CheckedAnswer(text, citations, dropped)


def _drop_unknown(text: str, count: int) -> tuple[str, int]:
    dropped = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal dropped
        if 1 <= int(m.group(1)) <= count:
            return m.group(0)
        dropped += 1
        return ""

    cleaned = _MARKER.sub(repl, text)
    if dropped:
        cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned))
    return cleaned, dropped


def _cited_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Sentences with the numbers they cite. Markers written after the full stop
    ("... flowers. [2] Next ...") belong to the sentence before them."""
    out: list[tuple[str, list[int]]] = []
    for s in split_sentences(text):
        body = s.text
        lead = _LEADING_MARKERS.match(body)
        if lead and out:
            prev_text, prev_numbers = out[-1]
            moved = [int(n) for n in _MARKER.findall(lead.group(0))]
            out[-1] = (prev_text + lead.group(0), prev_numbers + moved)
            body = body[lead.end() :].strip()
        out.append((body, [int(n) for n in _MARKER.findall(body)]))
    return [(s, ns) for s, ns in out if ns]


def _verify(sentence: str, words: set[str], n: int, hit: Hit, min_support: float) -> Citation:
    passage_words = set(content_terms(hit.text))
    support = len(words & passage_words) / len(words) if words else 0.0
    quote, start, end = _best_quote(words, hit)
    return Citation(
        n=n,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        title=hit.title,
        page=hit.page,
        quote=quote,
        quote_start=hit.char_start + start,
        quote_end=hit.char_start + end,
        supported=bool(words) and support >= min_support,
        support=round(support, 3),
        sentence=_MARKER.sub("", sentence).strip(),
    )


def _best_quote(words: set[str], hit: Hit) -> tuple[str, int, int]:
    """The passage sentence sharing most words with the citing sentence (first on ties)."""
    best = None
    best_overlap = -1
    for s in split_sentences(hit.text):
        overlap = len(words & set(content_terms(s.text)))
        if overlap > best_overlap:
            best, best_overlap = s, overlap
    if best is None:
        return hit.text, 0, len(hit.text)
    return best.text, best.start, best.end
