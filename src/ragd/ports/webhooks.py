"""Webhooks: subscriptions and their durable outbox (``Webhooks``), and the HTTP side
(``WebhookSender``).

``Webhooks.emit`` runs inside the Store's transaction of the state change it reports, so
an event exists exactly when its change committed. The delivery loop claims due
deliveries (``claim_due``, a lease so that two workers never send one delivery at once),
sends them, and records the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ragd.domain.models import TenantId
from ragd.domain.webhooks import Delivery, DeliveryState, EventType, NewEvent, Subscription
from ragd.ports.store import Transaction


class Webhooks(Protocol):
    """Per-tenant subscriptions, the outbox of events and the delivery log.

    Every method but the delivery loop's (``claim_due``, ``record``) is scoped to one
    tenant. Raises ``NotFound`` for a subscription of another tenant or none.
    """

    def create_subscription(
        self,
        tenant: TenantId,
        *,
        url: str,
        secret: str,
        events: Sequence[EventType],
        description: str,
    ) -> Subscription: ...

    def list_subscriptions(self, tenant: TenantId) -> list[Subscription]: ...

    def get_subscription(self, tenant: TenantId, subscription_id: str) -> Subscription: ...

    def set_active(self, tenant: TenantId, subscription_id: str, active: bool) -> Subscription: ...

    def delete_subscription(self, tenant: TenantId, subscription_id: str) -> None:
        """The subscription and its deliveries (the log with it)."""
        ...

    def emit(self, tx: Transaction, tenant: TenantId, events: Sequence[NewEvent]) -> int:
        """One delivery per event and active subscription to its type, written through the
        caller's transaction. Returns the deliveries written."""
        ...

    def claim_due(
        self, owner: str, *, now: datetime, limit: int, lease_seconds: float
    ) -> list[Delivery]:
        """Pending deliveries due by ``now`` (every tenant), oldest first, each the oldest
        pending one of its (subscription, subject), leased to ``owner``; with the URL,
        secret and body to send."""
        ...

    def record(
        self,
        delivery: Delivery,
        owner: str,
        *,
        state: DeliveryState,
        status: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> bool:
        """The outcome of one attempt (``attempts`` + 1), unless the lease was lost
        (False)."""
        ...

    def list_deliveries(
        self,
        tenant: TenantId,
        *,
        subscription_id: str | None = None,
        state: DeliveryState | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        """The delivery log, newest first (no bodies or secrets)."""
        ...

    def redeliver(self, tenant: TenantId, delivery_id: int) -> Delivery:
        """A dead delivery made pending again, due now."""
        ...


@dataclass(frozen=True)
class SendResult:
    status: int | None
    """The HTTP status, or None when no answer came (refused, timed out, refused URL)."""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookSender(Protocol):
    """POSTs one webhook, with an address guard (no private ranges unless allowed)."""

    def check_url(self, url: str) -> None:
        """Raise ``InvalidRequest`` for a URL ragd will not send to (scheme, host, or an
        address in a private range when that is not allowed)."""
        ...

    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult: ...
