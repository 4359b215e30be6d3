"""Stored conversations, the answers they are made of, and what people said about them.

Every answered question is kept as a ``Turn`` (its id is the answer id that feedback and
the OpenAI-compatible response id name); a turn may belong to a ``Conversation``, which
a user owns, can rename, delete, resume and share read-only within the tenant. Turns
outside a conversation keep only what feedback and analytics need (no passages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ragd.domain.answer import Answer
from ragd.domain.models import TenantId

MAX_TITLE_CHARS = 200
MAX_COMMENT_CHARS = 2000
ANSWER_ID_PREFIX = "chatcmpl-"
"""The OpenAI-compatible endpoint's response id is this prefix plus the answer id."""


@dataclass(frozen=True)
class Conversation:
    id: str
    tenant_id: TenantId
    user_id: str | None
    title: str
    shared: bool
    """Readable (never writable) by every user of the tenant."""
    created_at: datetime
    updated_at: datetime
    turns: int = 0


@dataclass(frozen=True)
class Turn:
    """One answered question: what was asked, what was searched, what came back."""

    id: str
    tenant_id: TenantId
    user_id: str | None
    conversation_id: str | None
    kind: str
    question: str
    search_query: str
    """The stand-alone question retrieval used (the question itself when there was no
    history to resolve)."""
    answer: Answer
    created_at: datetime


class Rating(StrEnum):
    UP = "up"
    DOWN = "down"


class Reason(StrEnum):
    WRONG = "wrong"
    INCOMPLETE = "incomplete"
    BAD_CITATION = "bad_citation"


@dataclass(frozen=True)
class Feedback:
    """A user's verdict on one answer; giving feedback again replaces it."""

    answer_id: str
    tenant_id: TenantId
    user_id: str | None
    rating: Rating
    reason: Reason | None
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class Analytics:
    """A tenant's answers and feedback since a point in time."""

    since: datetime
    answers: int
    declined: int
    """Answers that were ``NO_ANSWER``: nothing relevant was found."""
    answers_with_feedback: int
    positive: int
    negative: int
    reasons: dict[str, int] = field(default_factory=dict)
    top_unanswered: list[tuple[str, int]] = field(default_factory=list)
    """The declined questions asked most often (lowercased, stripped), with their count."""

    @property
    def feedback_rate(self) -> float:
        return self.answers_with_feedback / self.answers if self.answers else 0.0

    @property
    def negative_share(self) -> float:
        total = self.positive + self.negative
        return self.negative / total if total else 0.0


def answer_id_of(response_id: str) -> str:
    """An answer id from itself or from the OpenAI-compatible response id naming it."""
    return response_id.removeprefix(ANSWER_ID_PREFIX)


def default_title(question: str, limit: int = 80) -> str:
    """A conversation's title from its first question: one line, cut at a word."""
    line = " ".join(question.split())
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + "…"
