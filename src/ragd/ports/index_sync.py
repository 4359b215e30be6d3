"""IndexSync port: bringing an index that lives outside the Store up to date with it.

An external index (Qdrant) cannot join the Store's transaction, so its writes are rows of
an outbox in the Store, committed with the chunks they index; a sync applies them. The
ingestion worker drains it between batches; ``ragd sync`` runs it as a process of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ragd.domain.models import TenantId


@dataclass(frozen=True)
class DriftCounts:
    """What the last ``ragd reconcile`` found: chunks the Store has and the index lacks
    (``missing``), and index entries without a chunk in the Store (``orphans``)."""

    missing: int
    orphans: int
    checked_at: datetime
    repaired: bool


class IndexSync(Protocol):
    """Applies the outbox to the external index, idempotently and in order per document.

    Raises ``BackendUnavailable`` when the index or the Store cannot be reached (nothing
    is lost: rows stay pending until applied).
    """

    def drain(self, *, max_seconds: float | None = None) -> int:
        """Apply pending rows until none are left (or ``max_seconds`` passed); returns how
        many were applied. 0 also when another process holds the sync lease."""
        ...

    def backlog(self) -> int:
        """Rows written and not yet applied."""
        ...

    def is_pending(self, tenant: TenantId, document_id: str) -> bool:
        """Whether the document has writes not applied yet (hidden from search meanwhile)."""
        ...

    def record_drift(self, drift: DriftCounts) -> None:
        """Keep a reconcile's findings in the Store (``/metrics`` reports them)."""
        ...

    def last_drift(self) -> DriftCounts | None: ...
