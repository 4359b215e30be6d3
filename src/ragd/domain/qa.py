"""Scoring a QA set whose answers are spans of its documents (COVID-QA's layout).

A gold answer is "found" in a text when it appears there after both are normalised the
same way: lowercased, every character outside ``[a-z0-9 ]`` replaced by a space, runs of
spaces collapsed. The rule is the dataset's own (``covidqa-dev/README.md``), so figures
compare with the reference run there; it forgives punctuation, case and line breaks, and
nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_OUTSIDE = re.compile(r"[^a-z0-9 ]")
_SPACES = re.compile(r" +")


def normalise(text: str) -> str:
    """``text`` as the scoring compares it (see the module docstring)."""
    return _SPACES.sub(" ", _OUTSIDE.sub(" ", text.lower())).strip()


def holds_answer(text: str, answers: Iterable[str]) -> bool:
    """Does ``text`` contain any of the gold ``answers`` (both normalised)?"""
    haystack = normalise(text)
    return any(needle in haystack for needle in map(normalise, answers) if needle)


def answer_recall(passages: Sequence[str], answers: Sequence[str], k: int) -> bool:
    """Answer recall@k for one question: a gold answer in one of the top ``k`` passages."""
    return any(holds_answer(p, answers) for p in passages[:k])


def document_hit(documents: Sequence[str], gold: Iterable[str], k: int) -> bool:
    """Is a gold document among the documents of the top ``k`` passages?"""
    wanted = set(gold)
    return any(d in wanted for d in documents[:k])
