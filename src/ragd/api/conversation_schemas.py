"""Wire shapes of stored conversations, feedback and answer analytics."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ragd.api.schemas import QueryOut, Strict
from ragd.domain.conversations import (
    MAX_COMMENT_CHARS,
    MAX_TITLE_CHARS,
    Analytics,
    Conversation,
    Feedback,
    Rating,
    Reason,
    Turn,
)


class ConversationIn(Strict):
    title: str = Field("", max_length=MAX_TITLE_CHARS, description="Default: the first question.")


class ConversationPatch(Strict):
    title: str | None = Field(None, max_length=MAX_TITLE_CHARS)
    shared: bool | None = Field(
        None, description="Readable (not writable) by every user of the tenant."
    )


class ConversationOut(BaseModel):
    id: str
    title: str
    shared: bool
    owned: bool
    """False for another user's shared conversation (read-only to you)."""
    turns: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Conversation, user_id: str | None) -> ConversationOut:
        return cls(
            id=c.id,
            title=c.title,
            shared=c.shared,
            owned=c.user_id == user_id,
            turns=c.turns,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ConversationListOut(BaseModel):
    conversations: list[ConversationOut]
    limit: int
    offset: int


class TurnOut(BaseModel):
    answer_id: str
    question: str
    search_query: str
    created_at: datetime
    result: QueryOut

    @classmethod
    def of(cls, t: Turn) -> TurnOut:
        return cls(
            answer_id=t.id,
            question=t.question,
            search_query=t.search_query,
            created_at=t.created_at,
            result=QueryOut.of(t.answer).model_copy(
                update={"answer_id": t.id, "search_query": t.search_query}
            ),
        )


class ConversationDetailOut(ConversationOut):
    messages: list[TurnOut]


class FeedbackIn(Strict):
    rating: Rating
    reason: Reason | None = Field(None, description="With a thumbs-down only.")
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)


class FeedbackOut(BaseModel):
    answer_id: str
    rating: Rating
    reason: Reason | None
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, f: Feedback) -> FeedbackOut:
        return cls(
            answer_id=f.answer_id,
            rating=f.rating,
            reason=f.reason,
            comment=f.comment,
            created_at=f.created_at,
        )


class UnansweredOut(BaseModel):
    question: str
    count: int


class AnalyticsOut(BaseModel):
    since: datetime
    answers: int
    declined: int
    declined_share: float
    answers_with_feedback: int
    feedback_rate: float
    positive: int
    negative: int
    negative_share: float
    reasons: dict[str, int]
    top_unanswered: list[UnansweredOut]

    @classmethod
    def of(cls, a: Analytics) -> AnalyticsOut:
        return cls(
            since=a.since,
            answers=a.answers,
            declined=a.declined,
            declined_share=round(a.declined / a.answers, 4) if a.answers else 0.0,
            answers_with_feedback=a.answers_with_feedback,
            feedback_rate=round(a.feedback_rate, 4),
            positive=a.positive,
            negative=a.negative,
            negative_share=round(a.negative_share, 4),
            reasons=a.reasons,
            top_unanswered=[UnansweredOut(question=q, count=n) for q, n in a.top_unanswered],
        )
