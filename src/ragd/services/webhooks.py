"""WebhookService: subscriptions for tenant admins, and the delivery loop for workers.

Events are written by the use cases that change a document (``IndexingService``,
``IngestService``) through ``Webhooks.emit`` in their own transactions; this service
never sees them until they are committed. ``deliver_due`` is one pass of the loop: claim
due deliveries (leased, in order per document), sign each with its subscription's secret,
POST it, record the outcome: delivered, retried after exponential backoff, or dead after
``max_attempts``. ``DeliveryLoop`` runs passes on a thread of the worker process.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ragd.domain.models import Document, TenantId, utcnow
from ragd.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryState,
    EventType,
    NewEvent,
    Subscription,
    backoff_seconds,
    sign,
)
from ragd.errors import InvalidRequest
from ragd.ports.store import Transaction
from ragd.ports.webhooks import Webhooks, WebhookSender

log = logging.getLogger("ragd.webhooks")

MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 200
MAX_SUBSCRIPTIONS_PER_TENANT = 50
LEASE_SECONDS_OVER_TIMEOUT = 30.0


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    retry_base_s: float = 10.0
    retry_max_s: float = 3600.0
    timeout_s: float = 10.0
    batch: int = 20


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    outcomes: list[tuple[int, DeliveryState]] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.delivered + self.retried + self.dead


def document_event(kind: EventType, doc: Document, **extra: object) -> NewEvent:
    """The event about one document: its id, title, source and status after the change."""
    data: dict[str, object] = {
        "document_id": doc.id,
        "title": doc.title,
        "source": doc.source,
        "version": doc.version,
    }
    data.update(extra)
    return NewEvent(kind, doc.id, data)


class EventEmitter:
    """What the document use cases hold: ``emit`` in their transaction, or nothing when
    webhooks are not wired (tests of a bare service)."""

    def __init__(self, webhooks: Webhooks | None) -> None:
        self.webhooks = webhooks

    def emit(self, tx: Transaction, tenant: TenantId, *events: NewEvent) -> None:
        if self.webhooks is not None:
            self.webhooks.emit(tx, tenant, events)


class WebhookService:
    def __init__(self, webhooks: Webhooks, sender: WebhookSender, policy: DeliveryPolicy) -> None:
        self.webhooks = webhooks
        self.sender = sender
        self.policy = policy

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(
        self,
        tenant: TenantId,
        url: str,
        events: Sequence[str],
        *,
        secret: str | None = None,
        description: str = "",
    ) -> Subscription:
        """A new subscription; its secret (given, or made here) is in the result, once.

        Raises:
            InvalidRequest: an unknown event type, no event types, a URL ragd will not
                send to, a secret too short or long, too many subscriptions.
        """
        kinds = _event_types(events)
        self.sender.check_url(url)
        if secret is None:
            secret = "whsec_" + secrets.token_urlsafe(32)
        elif not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS:
            raise InvalidRequest(
                f"a webhook secret has {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters"
            )
        if len(self.webhooks.list_subscriptions(tenant)) >= MAX_SUBSCRIPTIONS_PER_TENANT:
            raise InvalidRequest(
                f"a tenant has at most {MAX_SUBSCRIPTIONS_PER_TENANT} webhook subscriptions"
            )
        return self.webhooks.create_subscription(
            tenant, url=url, secret=secret, events=kinds, description=description[:500]
        )

    def subscriptions(self, tenant: TenantId) -> list[Subscription]:
        return self.webhooks.list_subscriptions(tenant)

    def subscription(self, tenant: TenantId, subscription_id: str) -> Subscription:
        return self.webhooks.get_subscription(tenant, subscription_id)

    def set_active(self, tenant: TenantId, subscription_id: str, active: bool) -> Subscription:
        return self.webhooks.set_active(tenant, subscription_id, active)

    def unsubscribe(self, tenant: TenantId, subscription_id: str) -> None:
        self.webhooks.delete_subscription(tenant, subscription_id)

    def deliveries(
        self,
        tenant: TenantId,
        *,
        subscription_id: str | None = None,
        state: DeliveryState | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        """The delivery log, newest first."""
        if subscription_id is not None:
            self.webhooks.get_subscription(tenant, subscription_id)  # NotFound: not theirs
        return self.webhooks.list_deliveries(
            tenant, subscription_id=subscription_id, state=state, limit=limit, offset=offset
        )

    def redeliver(self, tenant: TenantId, delivery_id: int) -> Delivery:
        """A dead delivery queued again (sent on the next pass, whatever came after it)."""
        return self.webhooks.redeliver(tenant, delivery_id)

    # -- delivery ------------------------------------------------------------------------
    def deliver_due(self, owner: str, *, limit: int | None = None) -> DeliveryReport:
        """One pass: every due delivery it can claim, sent and recorded."""
        report = DeliveryReport()
        lease = self.policy.timeout_s + LEASE_SECONDS_OVER_TIMEOUT
        due = self.webhooks.claim_due(
            owner, now=utcnow(), limit=limit or self.policy.batch, lease_seconds=lease
        )
        for delivery in due:
            state = self._send(delivery, owner)
            report.outcomes.append((delivery.id, state))
            if state == DeliveryState.DELIVERED:
                report.delivered += 1
            elif state == DeliveryState.DEAD:
                report.dead += 1
            else:
                report.retried += 1
        return report

    def _send(self, delivery: Delivery, owner: str) -> DeliveryState:
        body = delivery.body.encode()
        now = int(time.time())
        headers = {
            SIGNATURE_HEADER: sign(delivery.secret, now, body),
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type.value,
            DELIVERY_HEADER: str(delivery.id),
            "User-Agent": "ragd-webhooks/1",
        }
        result = self.sender.send(delivery.url, headers, body)
        attempts = delivery.attempts + 1
        if result.ok:
            state, next_at = DeliveryState.DELIVERED, None
        elif attempts >= self.policy.max_attempts:
            state, next_at = DeliveryState.DEAD, None
            log.warning(
                "webhook delivery %s (%s, tenant %s) dead after %d attempts: %s",
                delivery.id,
                delivery.event_type.value,
                delivery.tenant_id,
                attempts,
                result.error,
            )
        else:
            wait = backoff_seconds(attempts, self.policy.retry_base_s, self.policy.retry_max_s)
            state, next_at = DeliveryState.PENDING, utcnow() + timedelta(seconds=wait)
        self.webhooks.record(
            delivery,
            owner,
            state=state,
            status=result.status,
            error=None if result.ok else result.error,
            next_attempt_at=next_at,
        )
        return state


def _event_types(events: Sequence[str]) -> list[EventType]:
    if not events:
        raise InvalidRequest("name at least one event type")
    known = {e.value: e for e in EventType}
    out: list[EventType] = []
    for name in events:
        if name not in known:
            raise InvalidRequest(f"unknown event type {name!r} (known: {', '.join(sorted(known))})")
        if known[name] not in out:
            out.append(known[name])
    return out


class DeliveryLoop:
    """``deliver_due`` every ``poll_s`` on a thread of its own, so a slow receiver never
    holds up ingestion; several workers' loops share the work through the claims."""

    def __init__(self, service: WebhookService, *, poll_s: float, owner: str | None = None):
        self.service = service
        self.poll_s = poll_s
        self.owner = owner or f"webhooks-{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ragd-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.service.deliver_due(self.owner)
            except Exception:  # an outage: the leases bring the claims back
                log.exception("webhook delivery pass failed; retrying")
                self._stop.wait(max(self.poll_s, 1.0))
                continue
            if report.sent == 0:
                self._stop.wait(self.poll_s)
