"""The knowledge graph's values: what an extractor finds in a chunk, and what a graph read
returns.

Entities are merged per tenant by a *key*, the normalised name (``normalise_name``), and
by aliases (an acronym defined in the text, "tumour necrosis factor (TNF)"). Every entity
and relation keeps the chunks it was found in (``GraphLink``); a document's contribution
is exactly those links, so deleting or replacing it removes what only it supported.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ragd.errors import InvalidRequest

MAX_NAME_CHARS = 120
"""Longer "names" are sentences an extractor got wrong; they are dropped."""
MAX_ENTITIES_PER_CHUNK = 40
MAX_RELATIONS_PER_CHUNK = 80
RELATION_KINDS_MAX_CHARS = 48

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)
_KIND = re.compile(r"[^a-z0-9]+")
_ARTICLES = ("the ", "a ", "an ")


def normalise_name(name: str) -> str:
    """The key entities merge by: NFKC, case-folded, hyphens and spaces collapsed, edge
    punctuation, a leading article and a possessive ``'s`` removed.

    "The Hallbrook  Group's" and "hallbrook group" share a key; "IL-6" and "IL 6" too.
    Returns "" for a name with no letter or digit (callers drop it)."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("’", "'")
    text = text.replace("-", " ").replace("_", " ")
    text = _SPACE.sub(" ", text).strip()
    if text.endswith("'s"):
        text = text[:-2]
    text = _EDGE_PUNCT.sub("", text)
    for article in _ARTICLES:
        if text.startswith(article) and len(text) > len(article) + 2:
            text = text[len(article) :]
            break
    return text[:MAX_NAME_CHARS] if any(c.isalnum() for c in text) else ""


def normalise_kind(kind: str) -> str:
    """A relation's kind as a short snake_case label (``"is tested by"`` → ``is_tested_by``);
    ``related_to`` when nothing is left."""
    label = _KIND.sub("_", kind.casefold()).strip("_")[:RELATION_KINDS_MAX_CHARS]
    return label or "related_to"


@dataclass(frozen=True)
class ExtractedEntity:
    name: str
    type: str = "concept"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtractedRelation:
    source: str
    """Entity name (as in ``ExtractedEntity.name``) at the relation's start."""
    target: str
    kind: str = "related_to"


@dataclass(frozen=True)
class Extraction:
    """What one chunk says: its entities and the relations between them."""

    entities: tuple[ExtractedEntity, ...] = ()
    relations: tuple[ExtractedRelation, ...] = ()

    def cleaned(self) -> Extraction:
        """Names normalisable, duplicates merged (by key), relations only between entities
        of this chunk and never to themselves, both lists bounded."""
        by_key: dict[str, ExtractedEntity] = {}
        for e in self.entities:
            name = _SPACE.sub(" ", e.name).strip()
            key = normalise_name(name)
            if not key or len(name) > MAX_NAME_CHARS:
                continue
            aliases = tuple(
                a for a in dict.fromkeys(_SPACE.sub(" ", a).strip() for a in e.aliases) if a
            )
            old = by_key.get(key)
            if old is None:
                if len(by_key) >= MAX_ENTITIES_PER_CHUNK:
                    continue
                by_key[key] = ExtractedEntity(name, e.type or "concept", aliases)
            else:
                merged = tuple(dict.fromkeys((*old.aliases, *aliases)))
                by_key[key] = ExtractedEntity(old.name, old.type, merged)
        relations: dict[tuple[str, str, str], ExtractedRelation] = {}
        for r in self.relations:
            s, t = normalise_name(r.source), normalise_name(r.target)
            if s not in by_key or t not in by_key or s == t:
                continue
            kind = normalise_kind(r.kind)
            if (s, t, kind) not in relations and len(relations) < MAX_RELATIONS_PER_CHUNK:
                relations[(s, t, kind)] = ExtractedRelation(by_key[s].name, by_key[t].name, kind)
        return Extraction(tuple(by_key.values()), tuple(relations.values()))


@dataclass(frozen=True)
class ChunkExtraction:
    """One chunk's extraction, as written to the graph."""

    chunk_id: str
    extraction: Extraction


@dataclass(frozen=True)
class EntityMatch:
    """A graph entity that a question names, and how well (1.0 for the same key)."""

    entity_id: str
    key: str
    name: str
    score: float


@dataclass(frozen=True)
class RelationUsed:
    """A relation a graph read walked, with the chunks that state it (what an answer can
    cite for it)."""

    source: str
    kind: str
    target: str
    chunk_ids: tuple[str, ...]
    hops: int


@dataclass(frozen=True)
class GraphChunk:
    """A chunk a graph read selected: the relations through which it was reached."""

    chunk_id: str
    score: float
    hops: int
    relations: tuple[int, ...] = ()
    """Indexes into ``Neighbourhood.relations``."""


@dataclass(frozen=True)
class Neighbourhood:
    """The chunks within ``hops`` of the seed entities, best first, and the relations
    walked to reach them."""

    chunks: list[GraphChunk] = field(default_factory=list)
    relations: list[RelationUsed] = field(default_factory=list)


@dataclass(frozen=True)
class GraphStats:
    entities: int
    relations: int
    links: int
    documents: int
    """Documents whose graph is built (at their current version)."""


def extraction_to_json(e: Extraction) -> dict[str, list[list[object]]]:
    """A compact JSON form (the extraction cache's payload)."""
    return {
        "e": [[x.name, x.type, list(x.aliases)] for x in e.entities],
        "r": [[r.source, r.target, r.kind] for r in e.relations],
    }


def extraction_from_json(data: object) -> Extraction:
    """The inverse of ``extraction_to_json``; malformed parts are skipped, not raised."""
    if not isinstance(data, dict):
        return Extraction()
    entities = []
    for item in data.get("e") or []:
        if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str):
            aliases = tuple(a for a in item[2] if isinstance(a, str)) if item[2] else ()
            entities.append(ExtractedEntity(item[0], str(item[1]), aliases))
    relations = [
        ExtractedRelation(str(s), str(t), str(k))
        for item in data.get("r") or []
        if isinstance(item, list) and len(item) == 3
        for s, t, k in [item]
    ]
    return Extraction(tuple(entities), tuple(relations))


def check_walk_bounds(hops: int, max_edges: int, max_chunks: int) -> None:
    """Every GraphStore refuses the same walks: the bounds are what keeps a walk cheap."""
    if hops not in (1, 2):
        raise InvalidRequest("graph hops must be 1 or 2")
    if max_edges < 1 or max_chunks < 1:
        raise InvalidRequest("graph bounds must be positive")
