"""Entity extractors: the offline rules, or the configured LLM with JSON output.

The LLM reads ``batch`` chunks per call (numbered, each cut to ``max_chars``) and answers
one JSON object, ``{"chunks": [{"id": 1, "entities": [...], "relations": [...]}]}``. A
chunk the answer leaves out or garbles is extracted by the rules instead, so a weak model
never loses a chunk's entities; the tokens every call spent are returned for accounting.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from ragd.domain.entities import extract_entities
from ragd.domain.graph import ExtractedEntity, ExtractedRelation, Extraction
from ragd.domain.models import Usage
from ragd.errors import RagdError
from ragd.ports.llm import LLM, ChatMessage, GenerationRequest

log = logging.getLogger("ragd.graph")

RULES_ID = "rules-v1"

SYSTEM_PROMPT = (
    "You extract a knowledge graph from text passages. For each numbered passage list the "
    "named entities it mentions (people, organisations, groups, places, drugs, chemicals, "
    "genes, proteins, diseases, methods, products) and the relations between them that the "
    "passage states. Use the entity's full name as written; put abbreviations in aliases. "
    "A relation's kind is a short verb phrase (tested_by, causes, inhibits, part_of). "
    'Answer with one JSON object only: {"chunks": [{"id": <passage number>, "entities": '
    '[{"name": str, "type": str, "aliases": [str]}], "relations": [{"source": <entity '
    'name>, "target": <entity name>, "kind": str}]}]}'
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class RuleExtractor:
    """The offline extractor (``ragd.domain.entities``); costs no tokens."""

    id = RULES_ID

    def extract(self, texts: Sequence[str]) -> tuple[list[Extraction], Usage]:
        return [extract_entities(t) for t in texts], Usage()


class LlmExtractor:
    """Entities and relations by the configured LLM, ``batch`` chunks per call."""

    def __init__(
        self, llm: LLM, *, batch: int = 8, max_chars: int = 3000, max_tokens: int = 1500
    ) -> None:
        self.llm = llm
        self.batch = max(1, batch)
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.fallbacks = 0
        """Chunks the model's answer did not cover, extracted by the rules instead."""

    @property
    def id(self) -> str:
        return f"llm-v1:{self.llm.model}"

    def extract(self, texts: Sequence[str]) -> tuple[list[Extraction], Usage]:
        out: list[Extraction] = []
        prompt = completion = 0
        for i in range(0, len(texts), self.batch):
            part = texts[i : i + self.batch]
            found, usage = self._call(part)
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
            for n, text in enumerate(part, start=1):
                got = found.get(n)
                if got is None:
                    self.fallbacks += 1
                    got = extract_entities(text)
                out.append(got.cleaned())
        return out, Usage(prompt, completion)

    def _call(self, texts: Sequence[str]) -> tuple[dict[int, Extraction], Usage]:
        passages = "\n\n".join(f"[{n}] {t[: self.max_chars]}" for n, t in enumerate(texts, start=1))
        request = GenerationRequest(
            messages=[
                ChatMessage("system", SYSTEM_PROMPT),
                ChatMessage("user", f"Passages:\n\n{passages}\n\nJSON:"),
            ],
            question="",
            passages=(),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_output=True,
        )
        completion = self.llm.complete(request)
        try:
            return parse_answer(completion.text, len(texts)), completion.usage
        except (ValueError, RagdError) as exc:
            log.warning("graph extraction: unreadable model answer (%s); rules used", exc)
            return {}, completion.usage


def parse_answer(text: str, count: int) -> dict[int, Extraction]:
    """The model's JSON answer as extractions by passage number (1..count).

    Raises:
        ValueError: not a JSON object with a ``chunks`` list.
    """
    data = json.loads(_FENCE.sub("", text.strip()))
    if not isinstance(data, dict) or not isinstance(data.get("chunks"), list):
        raise ValueError("expected an object with a 'chunks' list")
    found: dict[int, Extraction] = {}
    for item in data["chunks"]:
        if not isinstance(item, dict):
            continue
        n = item.get("id")
        if not isinstance(n, int) or not 1 <= n <= count:
            continue
        found[n] = Extraction(
            tuple(_entity(e) for e in _list(item, "entities") if _entity(e) is not None),  # type: ignore[misc]
            tuple(r for r in (_relation(x) for x in _list(item, "relations")) if r is not None),
        )
    return found


def _list(item: dict[str, Any], key: str) -> list[Any]:
    value = item.get(key)
    return value if isinstance(value, list) else []


def _entity(e: object) -> ExtractedEntity | None:
    if isinstance(e, str):
        return ExtractedEntity(e)
    if not isinstance(e, dict) or not isinstance(e.get("name"), str):
        return None
    aliases = tuple(a for a in _list(e, "aliases") if isinstance(a, str))
    kind = e.get("type") if isinstance(e.get("type"), str) else "concept"
    return ExtractedEntity(e["name"], str(kind)[:32], aliases)


def _relation(r: object) -> ExtractedRelation | None:
    if not isinstance(r, dict):
        return None
    s, t, k = r.get("source"), r.get("target"), r.get("kind", "related_to")
    if not isinstance(s, str) or not isinstance(t, str):
        return None
    return ExtractedRelation(s, t, k if isinstance(k, str) else "related_to")
