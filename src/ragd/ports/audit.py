"""Audit port: the append-only audit log, the query log and LLM usage.

The audit log has no update or delete: entries are only ever appended (erasing a user
pseudonymises their entries' ``user_id``; erasing a tenant removes the tenant's log with
it). The query log holds the questions people asked, which are personal data: it can be
anonymised (text scrubbed) and is erased with its user.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ragd.domain.accounts import AuditEntry, QueryRecord
from ragd.domain.models import TenantId


class Audit(Protocol):
    def record(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        action: str,
        resource: str | None,
        outcome: str,
        client_ip: str | None,
        request_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    def entries(
        self,
        tenant: TenantId,
        *,
        action: str | None = None,
        user_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]: ...

    def pseudonymise_user(self, tenant: TenantId, user_id: str, alias: str) -> int:
        """Replace the user in audit entries and usage rows by ``alias``."""
        ...

    def delete_tenant(self, tenant: TenantId) -> int: ...

    def record_query(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        request_id: str | None,
        kind: str,
        text: str,
        access: str | None = None,
    ) -> None:
        """Keep a question; ``access`` is the fingerprint of the rights it was answered
        under (``Access.fingerprint``: which collections and principals), so the log says
        what each asker could see."""
        ...

    def queries(
        self, tenant: TenantId, *, user_id: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[QueryRecord]: ...

    def anonymize_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int:
        """Scrub stored question texts (and the user link); returns rows changed."""
        ...

    def delete_queries(self, tenant: TenantId, *, user_id: str | None = None) -> int: ...

    def record_usage(
        self,
        tenant: TenantId,
        *,
        user_id: str | None,
        request_id: str | None,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
    ) -> None: ...

    def tokens_since(self, tenant: TenantId, since: datetime) -> int: ...

    def usage(
        self, tenant: TenantId, *, user_id: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]: ...

    def delete_usage(self, tenant: TenantId, *, user_id: str | None = None) -> int: ...
