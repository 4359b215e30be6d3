"""ConversationStore on SQL: conversations, answered questions (turns) and feedback.

Every method is about one tenant, and so is its transaction's row-level-security scope.
A turn's answer (text, citations and, inside a conversation, its passages) is one JSON
document: it is written once and read whole, never queried into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, case, delete, func, insert, or_, select, update

from ragd.adapters.sql.audit import ANONYMIZED
from ragd.adapters.sql.conversations_schema import answer_feedback, answer_turns, conversations
from ragd.adapters.sql.database import Database
from ragd.domain.answer import answer_from_dict, answer_to_dict
from ragd.domain.conversations import (
    Analytics,
    Conversation,
    Feedback,
    Rating,
    Reason,
    Turn,
    default_title,
)
from ragd.domain.models import TenantId, utcnow
from ragd.errors import NotFound


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _conversation(row: Row[Any], turns: int = 0) -> Conversation:
    m = row._mapping
    return Conversation(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        title=m["title"],
        shared=bool(m["shared"]),
        created_at=_aware(m["created_at"]),
        updated_at=_aware(m["updated_at"]),
        turns=turns,
    )


def _turn(row: Row[Any]) -> Turn:
    m = row._mapping
    return Turn(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        conversation_id=m["conversation_id"],
        kind=m["kind"],
        question=m["question"],
        search_query=m["search_query"],
        answer=answer_from_dict(dict(m["answer"])),
        created_at=_aware(m["created_at"]),
    )


def _feedback(row: Row[Any]) -> Feedback:
    m = row._mapping
    return Feedback(
        answer_id=m["answer_id"],
        tenant_id=TenantId(m["tenant_id"]),
        user_id=m["user_id"],
        rating=Rating(m["rating"]),
        reason=Reason(m["reason"]) if m["reason"] else None,
        comment=m["comment"],
        created_at=_aware(m["created_at"]),
    )


class SqlConversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ conversations

    def create_conversation(
        self, tenant: TenantId, conversation_id: str, *, user_id: str | None, title: str
    ) -> Conversation:
        now = utcnow()
        values = {
            "id": conversation_id,
            "tenant_id": tenant,
            "user_id": user_id,
            "title": title,
            "shared": False,
            "created_at": now,
            "updated_at": now,
        }
        with self.db.write(tenant) as conn:
            conn.execute(insert(conversations).values(**values))
        return Conversation(
            conversation_id, tenant, user_id, title, False, created_at=now, updated_at=now
        )

    def get_conversation(self, tenant: TenantId, conversation_id: str) -> Conversation:
        with self.db.read(tenant) as conn:
            return self._get(conn, tenant, conversation_id)

    def _get(self, conn: Connection, tenant: TenantId, conversation_id: str) -> Conversation:
        row = conn.execute(
            select(conversations).where(
                conversations.c.tenant_id == tenant, conversations.c.id == conversation_id
            )
        ).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} not found")
        count = conn.execute(
            select(func.count())
            .select_from(answer_turns)
            .where(
                answer_turns.c.tenant_id == tenant,
                answer_turns.c.conversation_id == conversation_id,
            )
        ).scalar_one()
        return _conversation(row, int(count))

    def list_conversations(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        include_shared: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]:
        mine = (
            conversations.c.user_id.is_(None)
            if user_id is None
            else conversations.c.user_id == user_id
        )
        who = or_(mine, conversations.c.shared.is_(True)) if include_shared else mine
        counts = (
            select(answer_turns.c.conversation_id, func.count().label("n"))
            .where(answer_turns.c.tenant_id == tenant, answer_turns.c.conversation_id.is_not(None))
            .group_by(answer_turns.c.conversation_id)
            .subquery()
        )
        q = (
            select(conversations, func.coalesce(counts.c.n, 0).label("turn_count"))
            .outerjoin(counts, counts.c.conversation_id == conversations.c.id)
            .where(conversations.c.tenant_id == tenant, who)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.read(tenant) as conn:
            rows = conn.execute(q).all()
        return [_conversation(r, int(r._mapping["turn_count"])) for r in rows]

    def update_conversation(
        self,
        tenant: TenantId,
        conversation_id: str,
        *,
        title: str | None = None,
        shared: bool | None = None,
    ) -> Conversation:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if title is not None:
            values["title"] = title
        if shared is not None:
            values["shared"] = shared
        with self.db.write(tenant) as conn:
            n = conn.execute(
                update(conversations)
                .where(conversations.c.tenant_id == tenant, conversations.c.id == conversation_id)
                .values(**values)
            ).rowcount
            if not n:
                raise NotFound(f"conversation {conversation_id} not found")
            return self._get(conn, tenant, conversation_id)

    def delete_conversation(self, tenant: TenantId, conversation_id: str) -> int:
        with self.db.write(tenant) as conn:
            n = conn.execute(
                delete(conversations).where(
                    conversations.c.tenant_id == tenant, conversations.c.id == conversation_id
                )
            ).rowcount
            if not n:
                raise NotFound(f"conversation {conversation_id} not found")
            ids = select(answer_turns.c.id).where(
                answer_turns.c.tenant_id == tenant,
                answer_turns.c.conversation_id == conversation_id,
            )
            conn.execute(
                delete(answer_feedback).where(
                    answer_feedback.c.tenant_id == tenant, answer_feedback.c.answer_id.in_(ids)
                )
            )
            turns = conn.execute(
                delete(answer_turns).where(
                    answer_turns.c.tenant_id == tenant,
                    answer_turns.c.conversation_id == conversation_id,
                )
            ).rowcount
        return int(turns)

    # ------------------------------------------------------------------ turns

    def add_turn(self, tenant: TenantId, turn: Turn, *, keep_passages: bool) -> None:
        answer = turn.answer if keep_passages else replace(turn.answer, passages=[])
        data = answer_to_dict(answer)
        with self.db.write(tenant) as conn:
            if turn.conversation_id is not None:
                n = conn.execute(
                    update(conversations)
                    .where(
                        conversations.c.tenant_id == tenant,
                        conversations.c.id == turn.conversation_id,
                    )
                    .values(updated_at=turn.created_at)
                ).rowcount
                if not n:
                    raise NotFound(f"conversation {turn.conversation_id} not found")
                conn.execute(
                    update(conversations)
                    .where(
                        conversations.c.tenant_id == tenant,
                        conversations.c.id == turn.conversation_id,
                        conversations.c.title == "",
                    )
                    .values(title=default_title(turn.question))
                )
            conn.execute(
                insert(answer_turns).values(
                    id=turn.id,
                    tenant_id=tenant,
                    user_id=turn.user_id,
                    conversation_id=turn.conversation_id,
                    kind=turn.kind,
                    question=turn.question,
                    search_query=turn.search_query,
                    grounded=answer.grounded,
                    model=answer.model,
                    answer=data,
                    created_at=turn.created_at,
                )
            )

    def get_turn(self, tenant: TenantId, answer_id: str) -> Turn:
        with self.db.read(tenant) as conn:
            row = conn.execute(
                select(answer_turns).where(
                    answer_turns.c.tenant_id == tenant, answer_turns.c.id == answer_id
                )
            ).first()
        if row is None:
            raise NotFound(f"answer {answer_id} not found")
        return _turn(row)

    def turns(self, tenant: TenantId, conversation_id: str, *, limit: int = 200) -> list[Turn]:
        q = (
            select(answer_turns)
            .where(
                answer_turns.c.tenant_id == tenant,
                answer_turns.c.conversation_id == conversation_id,
            )
            .order_by(answer_turns.c.created_at.desc(), answer_turns.c.id.desc())
            .limit(limit)
        )
        with self.db.read(tenant) as conn:
            rows = conn.execute(q).all()
        return [_turn(r) for r in reversed(rows)]

    # --------------------------------------------------------------- feedback

    def put_feedback(self, tenant: TenantId, feedback: Feedback) -> Feedback:
        assert feedback.user_id is not None, "feedback always has a user"
        with self.db.write(tenant) as conn:
            conn.execute(
                delete(answer_feedback).where(
                    answer_feedback.c.tenant_id == tenant,
                    answer_feedback.c.answer_id == feedback.answer_id,
                    answer_feedback.c.user_id == feedback.user_id,
                )
            )
            conn.execute(
                insert(answer_feedback).values(
                    answer_id=feedback.answer_id,
                    user_id=feedback.user_id,
                    tenant_id=tenant,
                    rating=feedback.rating.value,
                    reason=feedback.reason.value if feedback.reason else None,
                    comment=feedback.comment,
                    created_at=feedback.created_at,
                )
            )
        return feedback

    def feedback(
        self,
        tenant: TenantId,
        *,
        user_id: str | None = None,
        answer_ids: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[Feedback]:
        q = select(answer_feedback).where(answer_feedback.c.tenant_id == tenant)
        if user_id is not None:
            q = q.where(answer_feedback.c.user_id == user_id)
        if answer_ids is not None:
            q = q.where(answer_feedback.c.answer_id.in_(list(answer_ids)))
        q = q.order_by(answer_feedback.c.created_at.desc()).limit(limit)
        with self.db.read(tenant) as conn:
            return [_feedback(r) for r in conn.execute(q).all()]

    def analytics(self, tenant: TenantId, since: datetime, *, top: int = 10) -> Analytics:
        t, f = answer_turns, answer_feedback
        recent = and_(t.c.tenant_id == tenant, t.c.created_at >= since)
        question = func.lower(func.trim(t.c.question))
        with self.db.read(tenant) as conn:
            answers, declined = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((t.c.grounded.is_(False), 1), else_=0)), 0),
                ).where(recent)
            ).one()
            rated = conn.execute(
                select(f.c.rating, f.c.reason, func.count())
                .join(t, and_(t.c.id == f.c.answer_id, t.c.tenant_id == f.c.tenant_id))
                .where(f.c.tenant_id == tenant, recent)
                .group_by(f.c.rating, f.c.reason)
            ).all()
            with_feedback = conn.execute(
                select(func.count(func.distinct(f.c.answer_id)))
                .join(t, and_(t.c.id == f.c.answer_id, t.c.tenant_id == f.c.tenant_id))
                .where(f.c.tenant_id == tenant, recent)
            ).scalar_one()
            unanswered = conn.execute(
                select(question.label("q"), func.count().label("n"))
                .where(recent, t.c.grounded.is_(False))
                .group_by(question)
                .order_by(func.count().desc(), question)
                .limit(top)
            ).all()
        positive = sum(int(n) for rating, _r, n in rated if rating == Rating.UP.value)
        negative = sum(int(n) for rating, _r, n in rated if rating == Rating.DOWN.value)
        reasons: dict[str, int] = {}
        for rating, reason, n in rated:
            if rating == Rating.DOWN.value and reason:
                reasons[reason] = reasons.get(reason, 0) + int(n)
        return Analytics(
            since=since,
            answers=int(answers),
            declined=int(declined),
            answers_with_feedback=int(with_feedback),
            positive=positive,
            negative=negative,
            reasons=reasons,
            top_unanswered=[(str(q), int(n)) for q, n in unanswered],
        )

    # ------------------------------------------------------------------ erasure

    def anonymize_turns(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        t = answer_turns
        q = update(t).where(t.c.tenant_id == tenant, t.c.conversation_id.is_(None))
        if user_id is not None:
            q = q.where(t.c.user_id == user_id)
        with self.db.write(tenant) as conn:
            n = conn.execute(
                q.values(question=ANONYMIZED, search_query=ANONYMIZED, user_id=None)
            ).rowcount
        return int(n)

    def erase_user(self, tenant: TenantId, user_id: str) -> dict[str, int]:
        t, f, c = answer_turns, answer_feedback, conversations
        with self.db.write(tenant) as conn:
            theirs = select(t.c.id).where(t.c.tenant_id == tenant, t.c.user_id == user_id)
            feedback = conn.execute(
                delete(f).where(
                    f.c.tenant_id == tenant, or_(f.c.user_id == user_id, f.c.answer_id.in_(theirs))
                )
            ).rowcount
            owned = select(c.c.id).where(c.c.tenant_id == tenant, c.c.user_id == user_id)
            turns = conn.execute(
                delete(t).where(
                    t.c.tenant_id == tenant,
                    or_(t.c.user_id == user_id, t.c.conversation_id.in_(owned)),
                )
            ).rowcount
            convs = conn.execute(
                delete(c).where(c.c.tenant_id == tenant, c.c.user_id == user_id)
            ).rowcount
        return {"conversations": int(convs), "answers": int(turns), "feedback": int(feedback)}

    def delete_tenant(self, tenant: TenantId) -> int:
        with self.db.write(tenant) as conn:
            n = 0
            for table in (answer_feedback, answer_turns, conversations):
                n += conn.execute(delete(table).where(table.c.tenant_id == tenant)).rowcount
        return int(n)
