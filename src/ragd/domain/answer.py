"""What a query returns: an answer, the citations that back it, the passages it read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ragd.domain.models import Hit, Usage

NO_ANSWER = "The documents do not contain an answer to this question."


@dataclass(frozen=True)
class Citation:
    n: int
    """The ``[n]`` in the answer text: passage ``n`` (1-based) of ``passages``."""
    chunk_id: str
    document_id: str
    title: str
    page: int | None
    quote: str
    """The passage's sentence that best supports the citing sentence."""
    quote_start: int
    """Character offsets of ``quote`` in the document's extracted text."""
    quote_end: int
    supported: bool
    support: float
    """Share of the citing sentence's content words found in the passage (0..1)."""
    sentence: str
    """The answer sentence that carries this citation."""


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    passages: list[Hit]
    model: str
    grounded: bool
    """False when nothing relevant was retrieved and the service declined to answer."""
    usage: Usage = field(default_factory=Usage)
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False
    id: str | None = None
    """The answer's id once it is kept (``services.conversations``): feedback names it."""
    search_query: str | None = None
    """The stand-alone question retrieval used, when it differs from the question's
    own words or not (set by the query service)."""
    conversation_id: str | None = None


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """JSON-compatible form, for shared caches."""
    return asdict(answer)


def answer_from_dict(data: dict[str, Any]) -> Answer:
    return Answer(
        text=data["text"],
        citations=[Citation(**c) for c in data["citations"]],
        passages=[Hit(**{**h, "heading_path": tuple(h["heading_path"])}) for h in data["passages"]],
        model=data["model"],
        grounded=data["grounded"],
        usage=Usage(**data["usage"]),
        timings=dict(data["timings"]),
        cached=bool(data.get("cached", False)),
    )
