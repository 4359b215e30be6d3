"""The wire shapes of ragd's HTTP API as frozen dataclasses.

Fields ragd adds later are kept in ``raw`` and ignored otherwise, so an older client keeps
working against a newer server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Mode = Literal["hybrid", "dense", "sparse"]
DocumentStatus = Literal["queued", "parsing", "embedding", "indexed", "failed"]
Rating = Literal["up", "down"]
Reason = Literal["wrong", "incomplete", "bad_citation"]


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    source: str
    media_type: str
    status: str
    error: str | None
    chunks: int
    size_bytes: int
    version: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    outcome: str | None = None
    """Only on an upload's answer: queued, replaced, unchanged (or failed)."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Document:
        return cls(
            id=d["id"],
            title=d["title"],
            source=d["source"],
            media_type=d["media_type"],
            status=d["status"],
            error=d.get("error"),
            chunks=int(d.get("chunks", 0)),
            size_bytes=int(d.get("size_bytes", 0)),
            version=int(d.get("version", 0)),
            metadata=dict(d.get("metadata") or {}),
            created_at=_time(d["created_at"]),
            updated_at=_time(d["updated_at"]),
            outcome=d.get("outcome"),
            raw=d,
        )


@dataclass(frozen=True)
class DocumentPage:
    documents: list[Document]
    total: int
    limit: int
    offset: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DocumentPage:
        return cls(
            documents=[Document.from_json(x) for x in d["documents"]],
            total=int(d["total"]),
            limit=int(d["limit"]),
            offset=int(d["offset"]),
        )


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    title: str
    source: str
    text: str
    score: float
    page: int | None
    heading_path: list[str]
    char_start: int
    char_end: int
    metadata: dict[str, Any]
    similarity: float | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Hit:
        return cls(
            chunk_id=d["chunk_id"],
            document_id=d["document_id"],
            title=d["title"],
            source=d["source"],
            text=d["text"],
            score=float(d["score"]),
            page=d.get("page"),
            heading_path=list(d.get("heading_path") or []),
            char_start=int(d.get("char_start", 0)),
            char_end=int(d.get("char_end", 0)),
            metadata=dict(d.get("metadata") or {}),
            similarity=d.get("similarity"),
        )


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    mode: str
    timings: dict[str, float]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SearchResult:
        return cls(
            hits=[Hit.from_json(h) for h in d["hits"]],
            mode=d["mode"],
            timings=dict(d.get("timings") or {}),
        )


@dataclass(frozen=True)
class Citation:
    n: int
    document_id: str
    chunk_id: str
    title: str
    page: int | None
    quote: str
    supported: bool
    support: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Citation:
        return cls(
            n=int(d["n"]),
            document_id=d["document_id"],
            chunk_id=d["chunk_id"],
            title=d["title"],
            page=d.get("page"),
            quote=d.get("quote", ""),
            supported=bool(d.get("supported")),
            support=float(d.get("support", 0.0)),
            raw=d,
        )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Usage:
        d = d or {}
        return cls(
            int(d.get("prompt_tokens", 0)),
            int(d.get("completion_tokens", 0)),
            int(d.get("total_tokens", 0)),
        )


@dataclass(frozen=True)
class Answer:
    answer: str
    grounded: bool
    citations: list[Citation]
    passages: list[Hit]
    model: str
    cached: bool
    timings: dict[str, float]
    usage: Usage
    answer_id: str | None = None
    """Names the answer for ``feedback``."""
    search_query: str | None = None
    """What retrieval searched: a follow-up's stand-alone question."""
    conversation_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Answer:
        return cls(
            answer=d["answer"],
            grounded=bool(d["grounded"]),
            citations=[Citation.from_json(c) for c in d.get("citations") or []],
            passages=[Hit.from_json(h) for h in d.get("passages") or []],
            model=d.get("model", ""),
            cached=bool(d.get("cached")),
            timings=dict(d.get("timings") or {}),
            usage=Usage.from_json(d.get("usage")),
            answer_id=d.get("answer_id"),
            search_query=d.get("search_query"),
            conversation_id=d.get("conversation_id"),
            raw=d,
        )


@dataclass(frozen=True)
class Token:
    """A piece of the answer as it is written."""

    text: str


@dataclass(frozen=True)
class Citations:
    """The checked citations and their passages (sent once, before ``Done``)."""

    citations: list[Citation]
    passages: list[Hit]


@dataclass(frozen=True)
class Done:
    """The end of the stream: the whole answer, as ``ask`` would return it."""

    answer: Answer


StreamEvent = Token | Citations | Done


@dataclass(frozen=True)
class Me:
    tenant_id: str
    user_id: str
    role: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Me:
        return cls(d["tenant_id"], d["user_id"], d["role"], raw=d)


@dataclass(frozen=True)
class Conversation:
    """A stored conversation; ``owned`` is False for another user's shared one (read-only)."""

    id: str
    title: str
    shared: bool
    owned: bool
    turns: int
    created_at: datetime
    updated_at: datetime
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Conversation:
        return cls(
            id=d["id"],
            title=d.get("title", ""),
            shared=bool(d.get("shared")),
            owned=bool(d.get("owned", True)),
            turns=int(d.get("turns", 0)),
            created_at=_time(d["created_at"]),
            updated_at=_time(d["updated_at"]),
            raw=d,
        )


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    limit: int
    offset: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConversationPage:
        return cls(
            conversations=[Conversation.from_json(c) for c in d["conversations"]],
            limit=int(d["limit"]),
            offset=int(d["offset"]),
        )


@dataclass(frozen=True)
class ConversationTurn:
    """One question of a conversation and its answer (with passages and citations)."""

    answer_id: str
    question: str
    search_query: str
    created_at: datetime
    answer: Answer

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConversationTurn:
        return cls(
            answer_id=d["answer_id"],
            question=d["question"],
            search_query=d.get("search_query", ""),
            created_at=_time(d["created_at"]),
            answer=Answer.from_json(d["result"]),
        )


@dataclass(frozen=True)
class ConversationDetail:
    """A conversation and its turns, oldest first."""

    conversation: Conversation
    turns: list[ConversationTurn]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConversationDetail:
        return cls(
            conversation=Conversation.from_json(d),
            turns=[ConversationTurn.from_json(t) for t in d.get("messages") or []],
        )


@dataclass(frozen=True)
class Feedback:
    """A verdict on one answer; giving feedback again replaces it."""

    answer_id: str
    rating: Rating
    reason: Reason | None
    comment: str | None
    created_at: datetime

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Feedback:
        return cls(
            answer_id=d["answer_id"],
            rating=d["rating"],
            reason=d.get("reason"),
            comment=d.get("comment"),
            created_at=_time(d["created_at"]),
        )
