"""Tenant quotas: documents, stored bytes and LLM tokens per calendar month.

A tenant's own limit (``TenantLimits``, set by a platform admin) wins over the service
default (``MAX_DOCUMENTS_PER_TENANT``, ``MAX_BYTES_PER_TENANT``,
``MAX_LLM_TOKENS_PER_MONTH``); 0 means unlimited. Checks run before the work they guard,
so a tenant at its limit is refused before anything is read, retrieved or generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ragd.domain.accounts import TenantLimits
from ragd.domain.models import TenantId, utcnow
from ragd.errors import NotFound, QuotaExceeded
from ragd.ports.accounts import Accounts
from ragd.ports.audit import Audit
from ragd.ports.store import Store


@dataclass(frozen=True)
class QuotaDefaults:
    """The service-wide limits a tenant without its own gets (0: unlimited)."""

    max_documents: int = 0
    max_bytes: int = 0
    max_llm_tokens_month: int = 0


class QuotaService:
    def __init__(
        self, accounts: Accounts, audit: Audit, store: Store, defaults: QuotaDefaults
    ) -> None:
        self.accounts = accounts
        self.audit = audit
        self.store = store
        self.defaults = defaults

    def check_documents(self, tenant: TenantId) -> None:
        """Raise ``QuotaExceeded`` when the tenant holds its maximum of documents or bytes."""
        limits = self._limits(tenant)
        max_docs = _pick(limits.max_documents, self.defaults.max_documents)
        max_bytes = _pick(limits.max_bytes, self.defaults.max_bytes)
        if max_docs and self.store.count_documents(tenant) >= max_docs:
            raise QuotaExceeded(f"document quota reached ({max_docs} documents)")
        if max_bytes and self.store.stored_bytes(tenant) >= max_bytes:
            raise QuotaExceeded(f"storage quota reached ({max_bytes} bytes)")

    def check_tokens(self, tenant: TenantId) -> None:
        """Raise ``QuotaExceeded`` when the tenant's LLM tokens this month reach its limit."""
        limits = self._limits(tenant)
        max_tokens = _pick(limits.max_llm_tokens_month, self.defaults.max_llm_tokens_month)
        if max_tokens and self.audit.tokens_since(tenant, month_start()) >= max_tokens:
            raise QuotaExceeded(f"monthly LLM token quota reached ({max_tokens} tokens)")

    def _limits(self, tenant: TenantId) -> TenantLimits:
        try:
            return self.accounts.get_tenant(tenant).limits
        except NotFound:  # the embedded default tenant before its first document
            return TenantLimits()


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current (UTC) month: token quotas and usage reports count from it."""
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _pick(own: int | None, default: int) -> int:
    return own if own is not None else default
