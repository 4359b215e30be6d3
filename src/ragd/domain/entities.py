"""The offline entity extractor: rules, no model.

No torch-free package on PyPI ships NER weights in its wheel (``gliner2-onnx`` is a 10 kB
runtime that fetches its model from a hub at run time; spaCy's English models are not on
PyPI), and ragd loads no weights from the network, so without an LLM the graph is built by
these rules (measured in bench/README.md, "Knowledge graph"):

- **names**: runs of capitalised words ("Hallbrook Research Group", "Protein Kinase C"),
  joined by "of"/"and"/"de"/"van"/"von"/"for"; a single capitalised word that opens a
  sentence counts only when it is capitalised elsewhere in the chunk too;
- **acronyms and symbols**: tokens with two or more capitals or a capital and a digit
  ("TNF", "IL-6", "SARS-CoV-2", "ACE2", "mRNA");
- **chemical-like tokens**: words with digits and hyphens ("2-deoxyglucose"), and drug
  stems ("-mab", "-nib", "-vir", "-statin", ...);
- **aliases**: "long name (ACR)" makes ACR an alias of the long name;
- **relations**: entities in the same sentence co-occur (``co_occurs``), at most
  ``MAX_PER_SENTENCE`` of them per sentence, so a list of 50 names makes no 1,225 edges.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from ragd.domain.graph import ExtractedEntity, ExtractedRelation, Extraction, normalise_name
from ragd.domain.text import STOPWORDS, split_sentences

MAX_PER_SENTENCE = 8
MAX_CHUNK_CHARS = 20_000
"""Only the first characters of a (pathologically long) chunk are read: time stays bounded."""

_TOKEN = re.compile(r"[^\W_](?:[\w'’]|[-/.,](?=\w))*", re.UNICODE)
_CONNECTORS = frozenset({"of", "and", "de", "van", "von", "der", "for", "la", "du"})
_DRUG_STEMS = (
    "mab",
    "nib",
    "vir",
    "cillin",
    "mycin",
    "azole",
    "statin",
    "prazole",
    "olol",
    "sartan",
    "pril",
    "oxacin",
    "cycline",
    "parin",
    "dronate",
    "quine",
    "tinib",
)
_COMMON_CAPITALS = frozenset(
    """however although therefore thus moreover furthermore here there this these those
    results methods background conclusions conclusion objective objectives introduction
    discussion table figure fig patients we our in on at for from to by with as after
    before during while since because if when where what which who how why yes no not
    overall finally first second third also both each all many most some several""".split()
)


def _is_acronym(tok: str) -> bool:
    """Two or more capitals, or a capital and a digit: TNF, IL-6, ACE2, mRNA, SARS-CoV-2."""
    letters = [c for c in tok if c.isalpha()]
    if len(tok) < 2 or not letters:
        return False
    capitals = sum(1 for c in letters if c.isupper())
    return capitals >= 2 or (capitals >= 1 and any(c.isdigit() for c in tok))


def _is_chemical(tok: str) -> bool:
    low = tok.lower()
    if any(c.isdigit() for c in tok) and "-" in tok and sum(c.isalpha() for c in tok) >= 4:
        return True
    return len(low) >= 7 and low.isalpha() and low.endswith(_DRUG_STEMS)


def _capitalised(tok: str) -> bool:
    return tok[:1].isupper() and not tok.isupper() and tok[1:].replace("-", "").isalpha()


def _clean(tok: str) -> str:
    return tok.rstrip(".,;:'’").removesuffix("'s").removesuffix("’s")


def _names(sentence: str, capitalised_inside: set[str]) -> Iterator[str]:
    """Entity names of one sentence, in order."""
    tokens = [_clean(m.group(0)) for m in _TOKEN.finditer(sentence)]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if _is_acronym(tok) or _is_chemical(tok):
            yield tok
            i += 1
            continue
        if not _capitalised(tok):
            i += 1
            continue
        run = [tok]
        j = i + 1
        while j < len(tokens):
            nxt = tokens[j]
            if _capitalised(nxt) or (_is_acronym(nxt) and len(run) >= 1):
                run.append(nxt)
                j += 1
            elif nxt in _CONNECTORS and j + 1 < len(tokens) and _capitalised(tokens[j + 1]):
                run.extend((nxt, tokens[j + 1]))
                j += 2
            else:
                break
        while run and (run[0].lower() in _COMMON_CAPITALS or run[0].lower() in STOPWORDS):
            run = run[1:]
        if run:
            name = " ".join(run)
            single = len(run) == 1
            opens = i == 0 and run[0] == tok
            common = run[0].lower() in STOPWORDS
            if not common and not (single and opens and run[0] not in capitalised_inside):
                yield name
        i = j


_DEFINITION = re.compile(r"([A-Za-z][\w\- ]{2,80}?)\s*\(([A-Z][A-Za-z0-9\-]{1,14})\)")


def _aliases(text: str) -> dict[str, str]:
    """Acronym → long form for "tumour necrosis factor (TNF)": the long form is the last
    words whose initials spell the acronym."""
    found: dict[str, str] = {}
    for m in _DEFINITION.finditer(text):
        acronym = m.group(2)
        capitals = [c for c in acronym if c.isalpha() and c.isupper()] or list(acronym[:1])
        words = m.group(1).split()
        take = words[-len(capitals) :] if len(words) >= len(capitals) else []
        if take and all(w[:1].lower() == c.lower() for w, c in zip(take, capitals, strict=True)):
            found[acronym] = " ".join(take)
    return found


def extract_entities(text: str) -> Extraction:
    """Entities and co-occurrence relations of one chunk's text (see the module doc)."""
    text = text[:MAX_CHUNK_CHARS]
    sentences = split_sentences(text)
    inside: set[str] = set()
    for s in sentences:
        toks = [_clean(m.group(0)) for m in _TOKEN.finditer(s.text)]
        inside.update(t for t in toks[1:] if _capitalised(t))
    aliases = _aliases(text)
    alias_of = {normalise_name(long): acr for acr, long in aliases.items()}
    entities: dict[str, ExtractedEntity] = {}
    relations: list[ExtractedRelation] = []
    for s in sentences:
        names: list[str] = []
        for name in _names(s.text, inside):
            # An acronym defined here stands for its long form: one entity, two names.
            long = aliases.get(name)
            canonical = long if long is not None else name
            key = normalise_name(canonical)
            if not key or key in STOPWORDS:
                continue
            if key not in entities:
                acr = alias_of.get(key)
                term = " " not in name and (_is_acronym(name) or _is_chemical(name))
                kind = "term" if term else "name"
                entities[key] = ExtractedEntity(canonical, kind, (acr,) if acr else ())
            if entities[key].name not in names:
                names.append(entities[key].name)
        names = names[:MAX_PER_SENTENCE]
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                relations.append(ExtractedRelation(names[a], names[b], "co_occurs"))
    return Extraction(tuple(entities.values()), tuple(relations)).cleaned()


def question_names(question: str) -> list[str]:
    """The names a question mentions, for matching against the graph: the extractor's
    entities, and the question's runs of two and three content words (questions are often
    lower case: "which drugs did the hallbrook group test?"). A lone lower-case word is
    not a name: "treatment" would match every heading that says "Treatment"."""
    found = [e.name for e in extract_entities(question).entities]
    words = [
        _clean(m.group(0))
        for m in _TOKEN.finditer(question)
        if _clean(m.group(0)).lower() not in STOPWORDS
    ]
    words = [w for w in words if len(w) > 2 or _is_acronym(w)]
    singles = [w for w in words if _is_acronym(w) or _is_chemical(w) or _capitalised(w)]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    triples = [f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)]
    return list(dict.fromkeys([*found, *triples, *pairs, *singles]))[:64]
