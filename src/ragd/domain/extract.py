"""Which sentences of the retrieved passages make an extractive answer.

Each candidate sentence comes with a relevance to the question in 0..1 (how it is scored
is the answerer's business: ``adapters/llm/extractive.py`` mixes BM25 with the embedder's
cosine). The choice then follows how a person would quote:

* start from the most relevant sentence; if even that one is below ``floor``, decline
  (an empty choice) rather than quote something unrelated;
* stay in its passage: its neighbours join, the more relevant side first, when they clear
  ``neighbour`` × the best relevance (an answer often spans the sentence before or after
  the best one) and the answer stays within ``max_words``, and so do
  other sentences of the passage above ``cliff`` × the best;
* another passage gets in only with a sentence nearly as relevant as the best (``other``
  × best): sentences from elsewhere are what makes an answer read as padding;
* stop at a relevance cliff (``cliff``), and never add a sentence to reach a count: at most
  ``max_sentences``, often one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scored:
    passage: int
    position: int
    """Order of the sentence in its passage (0-based)."""
    relevance: float
    words: int = 0
    """Length in words, for ``SelectionPolicy.max_words`` (0: not counted)."""


@dataclass(frozen=True)
class SelectionPolicy:
    floor: float = 0.3
    cliff: float = 0.85
    neighbour: float = 0.05
    other: float = 0.98
    max_sentences: int = 5
    max_words: int = 120
    """Neighbours and other sentences join only while the answer stays within this many
    words (the best sentence always counts, however long); 0: no cap."""


def select(candidates: Sequence[Scored], policy: SelectionPolicy) -> list[int]:
    """Indexes into ``candidates`` of the chosen sentences, in passage and reading order;
    empty when nothing clears ``policy.floor``."""
    if not candidates:
        return []
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].relevance, i))
    best = candidates[order[0]]
    if best.relevance < policy.floor:
        return []
    at = {(c.passage, c.position): i for i, c in enumerate(candidates)}
    chosen = [order[0]]
    words = best.words

    def room(i: int) -> bool:
        fits = not policy.max_words or words + candidates[i].words <= policy.max_words
        return len(chosen) < policy.max_sentences and fits

    # Contiguous sentences of the best one's passage, growing outwards from it, the more
    # relevant side first.
    lo = hi = best.position
    while len(chosen) < policy.max_sentences:
        sides = [(p, at.get((best.passage, p))) for p in (hi + 1, lo - 1)]
        grow = sorted(
            ((candidates[i].relevance, p, i) for p, i in sides if i is not None),
            reverse=True,
        )
        grown = False
        for relevance, pos, i in grow:
            if room(i) and relevance >= policy.neighbour * best.relevance:
                chosen.append(i)
                words += candidates[i].words
                lo, hi = min(lo, pos), max(hi, pos)
                grown = True
                break
        if not grown:
            break
    # Then the rest, best first, until the cliff.
    for i in order[1:]:
        if len(chosen) >= policy.max_sentences:
            break
        c = candidates[i]
        if i in chosen:
            continue
        if c.relevance < policy.cliff * best.relevance:
            break
        if c.passage != best.passage and c.relevance < policy.other * best.relevance:
            continue
        if room(i):
            chosen.append(i)
            words += c.words
    return sorted(chosen, key=lambda i: (candidates[i].passage, candidates[i].position))
