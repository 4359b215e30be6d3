"""Stored conversations: create, list, read, rename, share, delete, resume.

A conversation belongs to the user who created it. Only its owner changes it or asks in
it (resuming appends a turn); when shared, every user of the same tenant may read it, and
nobody else may write to it. A conversation the caller may not read is a 404, the same as
one that does not exist, so ids cannot be probed. Tenants never see each other's: every
call is tenant-scoped (and row-level security backs it on Postgres). Inside a tenant a
stored turn is shown as far as the reader may read its documents now (collections,
allow-lists: ``withheld``): a turn that used a passage the reader may not read keeps its
question but loses its answer text, passages and citations, so a shared conversation
never carries one user's rights to another.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from ragd.domain.access import Access
from ragd.domain.answer import Answer
from ragd.domain.conversations import MAX_TITLE_CHARS, Conversation, Turn
from ragd.domain.models import TenantId, utcnow
from ragd.errors import Forbidden, InvalidRequest, NotFound
from ragd.ports import Store
from ragd.ports.conversations import ConversationStore
from ragd.ports.llm import ChatMessage

HISTORY_TURNS = 10
"""Earlier turns of a resumed conversation that reach the prompt and the rewrite."""
MAX_TURNS_SHOWN = 200


WITHHELD = "[withheld: this answer used passages you may not read]"


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    turns: list[Turn]
    owned: bool
    """False when the caller reads another user's shared conversation."""


def check_title(title: str) -> str:
    """A title: one line of at most ``MAX_TITLE_CHARS`` characters, no control characters."""
    cleaned = " ".join(title.split())
    if len(cleaned) > MAX_TITLE_CHARS:
        raise InvalidRequest(f"title is longer than {MAX_TITLE_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise InvalidRequest("title contains control characters")
    return cleaned


class ConversationService:
    def __init__(
        self,
        store: ConversationStore,
        *,
        history_turns: int = HISTORY_TURNS,
        documents: Store | None = None,
    ) -> None:
        self.store = store
        self.history_turns = history_turns
        self.documents = documents

    def create(self, tenant: TenantId, user_id: str | None, title: str = "") -> Conversation:
        return self.store.create_conversation(
            tenant, uuid.uuid4().hex, user_id=user_id, title=check_title(title)
        )

    def list_for(
        self,
        tenant: TenantId,
        user_id: str | None,
        *,
        include_shared: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]:
        return self.store.list_conversations(
            tenant, user_id=user_id, include_shared=include_shared, limit=limit, offset=offset
        )

    def read(
        self,
        tenant: TenantId,
        user_id: str | None,
        conversation_id: str,
        access: Access | None = None,
    ) -> ConversationView:
        """The conversation and its turns; ``NotFound`` unless owned or shared. With
        ``access``, each turn as far as the reader may read its passages (``withheld``)."""
        conv = self._readable(tenant, user_id, conversation_id)
        turns = self.store.turns(tenant, conversation_id, limit=MAX_TURNS_SHOWN)
        if access is not None:
            turns = self.withheld(access, turns)
        return ConversationView(conv, turns, owned=conv.user_id == user_id)

    def withheld(self, access: Access, turns: list[Turn]) -> list[Turn]:
        """Turns whose passages ``access`` may not all read, without their answer."""
        if access.unrestricted or self.documents is None:
            return turns
        readable: dict[str, bool] = {}
        out = []
        for turn in turns:
            ids = {h.document_id for h in turn.answer.passages}
            ids |= {c.document_id for c in turn.answer.citations}
            for doc_id in ids - set(readable):
                try:
                    doc = self.documents.get_document(turn.tenant_id, doc_id)
                    readable[doc_id] = access.may_read_document(doc.collection_id, doc.readers)
                except NotFound:
                    readable[doc_id] = True  # deleted since: shown as stored, nothing new
            if all(readable[d] for d in ids):
                out.append(turn)
                continue
            hidden = dataclasses.replace(
                turn.answer, text=WITHHELD, passages=[], citations=[], grounded=False
            )
            out.append(dataclasses.replace(turn, answer=hidden))
        return out

    def update(
        self,
        tenant: TenantId,
        user_id: str | None,
        conversation_id: str,
        *,
        title: str | None = None,
        shared: bool | None = None,
    ) -> Conversation:
        self._owned(tenant, user_id, conversation_id)
        return self.store.update_conversation(
            tenant,
            conversation_id,
            title=None if title is None else check_title(title),
            shared=shared,
        )

    def delete(self, tenant: TenantId, user_id: str | None, conversation_id: str) -> int:
        self._owned(tenant, user_id, conversation_id)
        return self.store.delete_conversation(tenant, conversation_id)

    def history(
        self, tenant: TenantId, user_id: str | None, conversation_id: str
    ) -> list[ChatMessage]:
        """The last turns as chat messages, for a question that resumes the conversation
        (owner only: asking in a conversation appends to it)."""
        self._owned(tenant, user_id, conversation_id)
        messages: list[ChatMessage] = []
        for turn in self.store.turns(tenant, conversation_id, limit=self.history_turns):
            messages.append(ChatMessage("user", turn.question))
            messages.append(ChatMessage("assistant", turn.answer.text))
        return messages

    def record(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        conversation_id: str | None,
        kind: str,
        question: str,
        search_query: str,
        answer: Answer,
    ) -> Turn:
        """Keep an answered question; inside a conversation with its passages."""
        turn = Turn(
            id=uuid.uuid4().hex,
            tenant_id=tenant,
            user_id=user_id,
            conversation_id=conversation_id,
            kind=kind,
            question=question,
            search_query=search_query,
            answer=answer,
            created_at=utcnow(),
        )
        self.store.add_turn(tenant, turn, keep_passages=conversation_id is not None)
        return turn

    def readable_turn(self, tenant: TenantId, user_id: str | None, answer_id: str) -> Turn:
        """An answer the caller may see: their own, or one of a shared conversation."""
        turn = self.store.get_turn(tenant, answer_id)
        if turn.user_id == user_id:
            return turn
        if turn.conversation_id is not None:
            try:
                conv = self.store.get_conversation(tenant, turn.conversation_id)
            except NotFound:
                conv = None
            if conv is not None and conv.shared:
                return turn
        raise NotFound(f"answer {answer_id} not found")

    def _readable(
        self, tenant: TenantId, user_id: str | None, conversation_id: str
    ) -> Conversation:
        conv = self.store.get_conversation(tenant, conversation_id)
        if conv.user_id != user_id and not conv.shared:
            raise NotFound(f"conversation {conversation_id} not found")
        return conv

    def _owned(self, tenant: TenantId, user_id: str | None, conversation_id: str) -> Conversation:
        conv = self._readable(tenant, user_id, conversation_id)
        if conv.user_id != user_id:
            raise Forbidden("a shared conversation is read-only for everyone but its owner")
        return conv
