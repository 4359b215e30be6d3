"""Sentences and content words: the small amount of linguistics the answer path needs.

The extractive answerer picks sentences by the question's words, and the citation checker
compares a cited sentence's words with the passage it cites. Both use the same tokenizer
so that an extractive answer always verifies as supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (optionally followed by quotes/brackets) before whitespace and
# an upper-case letter, digit or opening bracket, or at a blank line. Abbreviations such
# as "e.g." or "Fig. 2" split wrongly now and then; that only makes quotes shorter.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9(\[\"])|\n\s*\n")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CITATION = re.compile(r"\[(\d{1,3})\]")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves one two may might must shall us were s t""".split()
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    """Character offset of the sentence in the text it was cut from."""
    end: int


_ABBREVIATIONS = frozenset(
    "al e.g i.e fig figs eq ref refs vs cf approx no vol pp dr mr mrs ms prof st etc".split()
)


def split_sentences(text: str) -> list[Sentence]:
    out: list[Sentence] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if _after_abbreviation(text, m.start()):
            continue
        _add(out, text, pos, m.start())
        pos = m.end()
    _add(out, text, pos, len(text))
    return out


def _after_abbreviation(text: str, end: int) -> bool:
    """True when the full stop at ``end - 1`` closes "Fig.", "e.g.", "et al." or an initial."""
    if end == 0 or text[end - 1] != ".":
        return False
    word = text[max(0, end - 8) : end - 1].split()[-1:] or [""]
    token = word[0].lower().lstrip("([")
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if not stripped:
        return
    lead = len(chunk) - len(chunk.lstrip())
    s = start + lead
    out.append(Sentence(stripped, s, s + len(stripped)))


_SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "es", "ed", "s")


def stem(word: str) -> str:
    """A light suffix stripper (plural and common inflections), enough to match
    "proteins" with "protein" or "increased" with "increases" without a stemming library."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def content_terms(text: str) -> list[str]:
    """Lower-cased, stemmed words that carry meaning (stop words and 1-letter words out)."""
    return [
        stem(w)
        for w in (m.group(0).lower() for m in _WORD.finditer(text))
        if len(w) > 1 and w not in STOPWORDS
    ]


def citation_numbers(text: str) -> list[int]:
    return [int(m.group(1)) for m in _CITATION.finditer(text)]


def strip_citations(text: str) -> str:
    return re.sub(r"\s*\[\d{1,3}\]", "", text).strip()


HEADLINE_MAX_CHARS = 200


def headline(text: str) -> str | None:
    """The first line of ``text`` when it reads like a title (2 or more words, at most
    ``HEADLINE_MAX_CHARS``), else None. A record without a title (a JSONL corpus of
    articles) is then titled as its reader sees it, instead of by its id: the title
    is put in front of every chunk the model embeds and weighted in keyword search, so
    "doc-17" there is noise and the article's own title is its subject."""
    for line in text.lstrip().splitlines()[:1]:
        line = " ".join(line.split())
        if len(line.split()) >= 2 and len(line) <= HEADLINE_MAX_CHARS:
            return line
    return None
