"""Feedback on answers and the tenant's answer analytics.

Anyone who can see an answer (its asker, or a reader of the shared conversation it is in)
may rate it: thumbs up, or down with an optional reason (wrong, incomplete, bad citation)
and comment. Rating again replaces the earlier rating. Analytics count a tenant's answers
over a window: how many, how many were declined (nothing relevant found), how many got
feedback and how much of it was negative, and the declined questions asked most often:
the gaps in the documents.
"""

from __future__ import annotations

from datetime import timedelta

from ragd.domain.conversations import (
    MAX_COMMENT_CHARS,
    Analytics,
    Feedback,
    Rating,
    Reason,
    answer_id_of,
)
from ragd.domain.models import TenantId, utcnow
from ragd.errors import InvalidRequest
from ragd.ports.conversations import ConversationStore
from ragd.services.conversations import ConversationService

MAX_DAYS = 366


class FeedbackService:
    def __init__(self, store: ConversationStore, conversations: ConversationService) -> None:
        self.store = store
        self.conversations = conversations

    def give(
        self,
        tenant: TenantId,
        user_id: str,
        answer_id: str,
        rating: Rating,
        *,
        reason: Reason | None = None,
        comment: str | None = None,
    ) -> Feedback:
        """Record the caller's verdict on an answer (its id, or the OpenAI-compatible
        response id). Raises ``NotFound`` for an answer the caller cannot see and
        ``InvalidRequest`` for a reason on a thumbs-up or an over-long comment."""
        if reason is not None and rating is Rating.UP:
            raise InvalidRequest("a reason goes with a thumbs-down only")
        if comment is not None:
            comment = comment.strip() or None
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise InvalidRequest(f"comment is longer than {MAX_COMMENT_CHARS} characters")
        turn = self.conversations.readable_turn(tenant, user_id, answer_id_of(answer_id))
        return self.store.put_feedback(
            tenant,
            Feedback(
                answer_id=turn.id,
                tenant_id=tenant,
                user_id=user_id,
                rating=rating,
                reason=reason,
                comment=comment,
                created_at=utcnow(),
            ),
        )

    def analytics(self, tenant: TenantId, *, days: int = 30, top: int = 10) -> Analytics:
        if not 1 <= days <= MAX_DAYS:
            raise InvalidRequest(f"days must be between 1 and {MAX_DAYS}")
        return self.store.analytics(tenant, utcnow() - timedelta(days=days), top=top)
