"""A follow-up question made searchable without a model.

"And what about its reservoir?" retrieves on "reservoir" alone. With no LLM to condense
the conversation (the extractive default), the question is rewritten from the earlier
questions by two rules:

1. **Pronouns name the last entity.** The first pronoun of the follow-up ("it", "its",
   "they", "this virus"...) is replaced by the most recent named entity of the earlier
   questions (a run of capitalised words, an acronym, or a token such as "COVID-19" or
   "SARS-CoV-2") that the follow-up does not already name.
2. **Salient terms carry over, weighted by recency.** The content words of the previous
   question that the follow-up lacks are appended, entities first and longer (rarer)
   words before shorter ones, up to ``CARRY_LAST`` terms; the question before it adds its
   entities only, up to ``CARRY_EARLIER``. The follow-up's own words always come first,
   so they keep the most weight in the embedding and every BM25 term they had.

A follow-up with no pronoun that names something the earlier questions did not ("Where
was Vessby rebuilt?") already stands alone and is left as it is, unless it opens like a
continuation ("And what about the Sun?", "How about ...", "Also ..."). Only user turns are
read: the answers' text would drag in whatever the last answer happened to quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragd.domain.text import STOPWORDS, stem

CARRY_LAST = 6
CARRY_EARLIER = 2
MAX_ENTITY_WORDS = 4
"""A longer run of capitalised words ("C-C Motif Chemokine Ligand 3 Like 1") is cut into
names of at most this many words, so one title-cased question cannot flood the query."""

PRONOUNS = frozenset(
    "it its they them their theirs this that these those he she him his her hers".split()
)
_DETERMINERS = frozenset({"this", "that", "these", "those"})
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could "
    "should would will and but or so also please tell list name describe explain".split()
)
_CONTINUATIONS = ("and ", "what about ", "how about ", "also ", "but ", "then ", "so ")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9]|[A-Za-z0-9]")


def _is_entity_token(token: str, first: bool) -> bool:
    """Capitalised (not just because it opens the question), all-caps, or mixed letters
    and digits ("COVID-19", "HIV-1", "SARS-CoV-2", "H1N1")."""
    low = token.lower()
    if low in STOPWORDS or low in _QUESTION_WORDS:
        return False
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    if has_digit and has_alpha:
        return True
    if not has_alpha:
        return False
    if sum(c.isupper() for c in token) >= 2:
        return True
    return token[0].isupper() and not first


def entities(question: str) -> list[str]:
    """Named entities of a question, in order: maximal runs of entity-like tokens."""
    found: list[str] = []
    run: list[str] = []
    for i, m in enumerate(_TOKEN.finditer(question)):
        token = m.group(0)
        if _is_entity_token(token, first=i == 0):
            run.append(token)
            if len(run) == MAX_ENTITY_WORDS:
                found.append(" ".join(run))
                run = []
            continue
        if run:
            found.append(" ".join(run))
            run = []
    if run:
        found.append(" ".join(run))
    return found


def _content_words(text: str) -> list[str]:
    words: list[str] = []
    for token in _TOKEN.findall(text):
        low = token.lower()
        if len(low) > 2 and low not in STOPWORDS and low not in _QUESTION_WORDS:
            words.append(token)
    return words


def _resolve_pronoun(question: str, entity: str) -> tuple[str, bool]:
    """The question with its first pronoun (or "this/that <noun>") replaced by ``entity``."""
    for m in _TOKEN.finditer(question):
        low = m.group(0).lower()
        if low not in PRONOUNS:
            continue
        start, end = m.start(), m.end()
        if low in _DETERMINERS:
            # "this virus" -> "MERS-CoV"; a bare "this" too
            rest = question[end:]
            noun = re.match(r"\s+([A-Za-z][A-Za-z\-]*)", rest)
            if noun and noun.group(1).lower() not in STOPWORDS | _QUESTION_WORDS:
                end += noun.end()
        name = entity + "'s" if low in ("its", "their", "his", "her", "theirs", "hers") else entity
        return question[:start] + name + question[end:], True
    return question, False


def standalone_question(question: str, previous: Sequence[str]) -> str:
    """``question`` rewritten to stand alone, given the earlier questions (oldest first).

    Returns the question unchanged when there is nothing earlier to draw on.
    """
    question = " ".join(question.split())
    earlier = [" ".join(p.split()) for p in previous if p.strip()]
    if not earlier or not question:
        return question
    own = question.lower()
    before = " ".join(earlier).lower()
    has_pronoun = any(t.lower() in PRONOUNS for t in _TOKEN.findall(question))
    continues = own.startswith(_CONTINUATIONS)
    if (
        not has_pronoun
        and not continues
        and any(e.lower() not in before for e in entities(question))
    ):
        return question
    named = [e for p in reversed(earlier) for e in reversed(entities(p)) if e.lower() not in own]
    rewritten = question
    used: set[str] = set()
    if named:
        rewritten, replaced = _resolve_pronoun(question, named[0])
        if replaced:
            used.add(named[0].lower())
    have = {stem(w.lower()) for w in _content_words(rewritten)}
    have |= {stem(w.lower()) for e in used for w in e.split()}
    carried: list[str] = []

    def carry(term: str) -> bool:
        keys = {stem(w.lower()) for w in term.split()}
        if keys <= have:
            return False
        have.update(keys)
        carried.append(term)
        return True

    last = earlier[-1]
    last_entities = entities(last)
    n = 0
    for term in [*reversed(last_entities), *_ranked(_content_words(last), last_entities)]:
        if n >= CARRY_LAST:
            break
        n += carry(term)
    n = 0
    for p in reversed(earlier[:-1]):
        for e in reversed(entities(p)):
            if n >= CARRY_EARLIER:
                break
            n += carry(e)
    if not carried:
        return rewritten
    return f"{rewritten} {' '.join(carried)}"


def _ranked(words: list[str], skip: list[str]) -> list[str]:
    """Content words not inside an entity, longer (more specific) first, stable."""
    inside = {w.lower() for e in skip for w in e.split()}
    out: list[str] = []
    seen: set[str] = set()
    for w in words:
        low = w.lower()
        if low in inside or low in seen:
            continue
        seen.add(low)
        out.append(w)
    return sorted(out, key=len, reverse=True)
