"""Personal data: export everything held about a user, anonymise query logs, erase a user
or a whole tenant, and say exactly what was removed.

Anonymising scrubs the question texts of the query log and of answered questions kept
outside a conversation. Erasing a user removes the user, their keys, their questions,
their stored conversations and answers and the feedback they gave (or that others gave
on their answers), and pseudonymises their audit entries and usage rows (the facts stay
for accounting, the person goes). Documents belong to the tenant, not to the user who
uploaded them, so they stay. Erasing a tenant removes everything: documents with their
chunks, index entries and jobs (each through the same transactional delete as a single
document), cache entries, audit and query logs, usage, conversations, answers and
feedback, users, keys and the tenant itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from ragd.domain.models import TenantId
from ragd.ports.accounts import Accounts
from ragd.ports.audit import Audit
from ragd.ports.cache import Cache
from ragd.ports.conversations import ConversationStore
from ragd.ports.store import Store
from ragd.services.ingest import IngestService


class GdprService:
    def __init__(
        self,
        accounts: Accounts,
        audit: Audit,
        store: Store,
        ingest: IngestService,
        cache: Cache,
        conversations: ConversationStore,
    ) -> None:
        self.conversations = conversations
        self.accounts = accounts
        self.audit = audit
        self.store = store
        self.ingest = ingest
        self.cache = cache

    def export_user(self, tenant: TenantId, user_id: str) -> dict[str, Any]:
        user = self.accounts.get_user(tenant, user_id)
        return {
            "user": _plain(asdict(user)),
            "api_keys": [_plain(asdict(k)) for k in self.accounts.list_keys(tenant, user_id)],
            "queries": [
                _plain(asdict(q))
                for q in self.audit.queries(tenant, user_id=user_id, limit=100_000)
            ],
            "audit": [
                _plain(asdict(e))
                for e in self.audit.entries(tenant, user_id=user_id, limit=100_000)
            ],
            "usage": self.audit.usage(tenant, user_id=user_id),
            **self._conversations_of(tenant, user_id),
        }

    def _conversations_of(self, tenant: TenantId, user_id: str) -> dict[str, Any]:
        """The user's conversations with their turns, and the feedback they gave."""
        convs = self.conversations.list_conversations(tenant, user_id=user_id, limit=100_000)
        return {
            "conversations": [
                {
                    **_plain(asdict(c)),
                    "turns": [
                        _plain(
                            {
                                "answer_id": t.id,
                                "question": t.question,
                                "search_query": t.search_query,
                                "answer": t.answer.text,
                                "citations": [asdict(x) for x in t.answer.citations],
                                "created_at": t.created_at,
                            }
                        )
                        for t in self.conversations.turns(tenant, c.id, limit=100_000)
                    ],
                }
                for c in convs
            ],
            "feedback": [
                _plain(asdict(f))
                for f in self.conversations.feedback(tenant, user_id=user_id, limit=100_000)
            ],
        }

    def anonymize(self, tenant: TenantId, user_id: str | None = None) -> dict[str, int]:
        return {
            "queries_anonymized": self.audit.anonymize_queries(tenant, user_id=user_id),
            "answers_anonymized": self.conversations.anonymize_turns(tenant, user_id=user_id),
        }

    def erase_user(self, tenant: TenantId, user_id: str) -> dict[str, Any]:
        self.accounts.get_user(tenant, user_id)  # NotFound first, nothing half-done
        alias = "erased-" + hashlib.sha256(f"{tenant}:{user_id}".encode()).hexdigest()[:12]
        queries = self.audit.delete_queries(tenant, user_id=user_id)
        conversations = self.conversations.erase_user(tenant, user_id)
        pseudonymised = self.audit.pseudonymise_user(tenant, user_id, alias)
        keys = self.accounts.delete_user(tenant, user_id)
        self.cache.invalidate_tenant(tenant)  # cached answers may quote the user's questions
        return {
            "user_id": user_id,
            "alias": alias,
            "api_keys_deleted": keys,
            "queries_deleted": queries,
            "conversations_deleted": conversations["conversations"],
            "answers_deleted": conversations["answers"],
            "feedback_deleted": conversations["feedback"],
            "records_pseudonymised": pseudonymised,
            "documents_kept": "documents belong to the tenant",
        }

    def erase_tenant(self, tenant: TenantId) -> dict[str, Any]:
        self.accounts.get_tenant(tenant)
        documents = chunks = 0
        while True:
            page = self.store.list_documents(tenant, limit=200)
            if not page:
                break
            for doc in page:
                chunks += doc.chunk_count
                self.ingest.delete(tenant, doc.id)
                documents += 1
        if self.ingest.graph is not None:  # what is left: the extraction cache
            self.ingest.graph.erase_tenant(tenant)
        self.cache.invalidate_tenant(tenant)
        users = len(self.accounts.list_users(tenant))
        keys = len(self.accounts.list_keys(tenant))
        logs = self.audit.delete_tenant(tenant)
        logs += self.conversations.delete_tenant(tenant)
        self.accounts.delete_tenant(tenant)
        return {
            "tenant_id": tenant,
            "documents_deleted": documents,
            "chunks_deleted": chunks,
            "users_deleted": users,
            "api_keys_deleted": keys,
            "log_rows_deleted": logs,
            "cache": "invalidated",
        }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if hasattr(v, "isoformat"):
            out[k] = v.isoformat()
        elif hasattr(v, "value"):
            out[k] = v.value
        else:
            out[k] = v
    return out
