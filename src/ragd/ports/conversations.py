"""ConversationStore port: answered questions (turns), conversations and feedback.

Every method takes the tenant and never sees another tenant's rows. Who may read or change
a conversation (its owner; anyone in the tenant, read-only, when shared) is decided by
``services.conversations``, not here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ragd.domain.conversations import Analytics, Conversation, Feedback, Turn
from ragd.domain.models import TenantId


class ConversationStore(Protocol):
    def create_conversation(
        self, tenant: TenantId, conversation_id: str, *, user_id: str | None, title: str
    ) -> Conversation: ...

    def get_conversation(self, tenant: TenantId, conversation_id: str) -> Conversation:
        """Raises ``NotFound`` when the tenant has no such conversation."""
        ...

    def list_conversations(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        include_shared: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]:
        """The user's conversations (and, with ``include_shared``, every shared one of the
        tenant), most recently updated first."""
        ...

    def update_conversation(
        self,
        tenant: TenantId,
        conversation_id: str,
        *,
        title: str | None = None,
        shared: bool | None = None,
    ) -> Conversation:
        """Raises ``NotFound``."""
        ...

    def delete_conversation(self, tenant: TenantId, conversation_id: str) -> int:
        """Delete it with its turns and their feedback; returns turns deleted. Raises
        ``NotFound``."""
        ...

    def add_turn(self, tenant: TenantId, turn: Turn, *, keep_passages: bool) -> None:
        """Store an answered question; with a conversation, also bump its ``updated_at``
        (and title it from the question when it has none yet)."""
        ...

    def get_turn(self, tenant: TenantId, answer_id: str) -> Turn:
        """Raises ``NotFound``."""
        ...

    def turns(self, tenant: TenantId, conversation_id: str, *, limit: int = 200) -> list[Turn]:
        """The conversation's last ``limit`` turns, oldest first."""
        ...

    def put_feedback(self, tenant: TenantId, feedback: Feedback) -> Feedback:
        """Insert, or replace the same user's feedback on the same answer."""
        ...

    def feedback(
        self,
        tenant: TenantId,
        *,
        user_id: str | None = None,
        answer_ids: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[Feedback]: ...

    def analytics(self, tenant: TenantId, since: datetime, *, top: int = 10) -> Analytics: ...

    def anonymize_turns(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        """Scrub the question texts (and the user link) of answered questions kept outside
        a conversation, like the query log's; returns rows changed. Conversations are their
        owners' to keep or delete."""
        ...

    def erase_user(self, tenant: TenantId, user_id: str) -> dict[str, int]:
        """Delete the user's conversations, turns and feedback (and the feedback others gave
        on their turns); returns counts by kind."""
        ...

    def delete_tenant(self, tenant: TenantId) -> int: ...
