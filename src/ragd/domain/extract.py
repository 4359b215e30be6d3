"""Which sentences of the retrieved passages make an extractive answer.

Each candidate sentence comes with a relevance to the question in 0..1 (how it is scored
is the answerer's business: ``adapters/llm/extractive.py`` mixes BM25 with the embedder's
cosine). The choice then follows how a person would quote:

* start from the most relevant sentence; if even that one is below ``floor``, decline
  (an empty choice) rather than quote something unrelated;
* stay in its passage: its neighbours join when they clear ``neighbour`` × the best
  relevance (an answer often spans the sentence before or after the best one), and so do
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


@dataclass(frozen=True)
class SelectionPolicy:
    floor: float = 0.3
    cliff: float = 0.85
    neighbour: float = 0.2
    other: float = 0.98
    max_sentences: int = 4


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

    def room() -> bool:
        return len(chosen) < policy.max_sentences

    # Contiguous sentences of the best one's passage, growing outwards from it.
    lo = hi = best.position
    while room():
        grown = False
        for pos in (hi + 1, lo - 1):
            i = at.get((best.passage, pos))
            if (
                i is not None
                and room()
                and candidates[i].relevance >= policy.neighbour * best.relevance
            ):
                chosen.append(i)
                lo, hi = min(lo, pos), max(hi, pos)
                grown = True
        if not grown:
            break
    # Then the rest, best first, until the cliff.
    for i in order[1:]:
        if not room():
            break
        c = candidates[i]
        if i in chosen:
            continue
        if c.relevance < policy.cliff * best.relevance:
            break
        if c.passage != best.passage and c.relevance < policy.other * best.relevance:
            continue
        chosen.append(i)
    return sorted(chosen, key=lambda i: (candidates[i].passage, candidates[i].position))
