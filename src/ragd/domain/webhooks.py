"""Webhooks: event types, subscriptions, deliveries, and the signature.

A tenant admin subscribes a URL to some event types; each event a state change emits is
written, in the same transaction, as one *delivery* per matching subscription (an outbox).
The worker POSTs each delivery, signed, and retries it with exponential backoff until the
receiver answers 2xx or the attempts run out (then it is *dead*, kept in the delivery
log). Deliveries of one document to one subscription go out in the order the events
happened: the next waits until the previous one is delivered or dead.

The signature (what receivers check): ``X-Ragd-Signature: t=<unix seconds>,v1=<hex>``
where ``v1 = HMAC-SHA256(secret, "<t>." + body)``, the scheme Stripe made familiar.
Receivers should refuse a ``t`` far from their clock (replays) and deduplicate on
``X-Ragd-Event-Id`` (a delivery whose answer was lost is sent again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ragd.domain.models import TenantId


class EventType(StrEnum):
    DOCUMENT_INDEXED = "document.indexed"
    DOCUMENT_FAILED = "document.failed"
    DOCUMENT_DELETED = "document.deleted"
    SOURCE_SYNCED = "source.synced"
    """Reserved for source connectors (nothing emits it yet)."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


SIGNATURE_HEADER = "X-Ragd-Signature"
EVENT_ID_HEADER = "X-Ragd-Event-Id"
EVENT_TYPE_HEADER = "X-Ragd-Event"
DELIVERY_HEADER = "X-Ragd-Delivery"
MAX_EVENT_TYPES = len(EventType)


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant_id: TenantId
    url: str
    events: tuple[EventType, ...]
    active: bool
    description: str
    created_at: datetime
    secret: str = ""
    """Shown once, when the subscription is created; empty when read back."""


@dataclass(frozen=True)
class NewEvent:
    """What a state change emits: its type, the document (or source) it is about, and
    the event's ``data``."""

    type: EventType
    subject: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One event to one subscription, and how sending it went."""

    id: int
    tenant_id: TenantId
    subscription_id: str
    event_id: str
    event_type: EventType
    subject: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    body: str = ""
    url: str = ""
    secret: str = ""


def event_body(event_id: str, tenant: TenantId, event: NewEvent, created_at: datetime) -> str:
    """The JSON each subscriber receives (compact, keys in a fixed order)."""
    return json.dumps(
        {
            "id": event_id,
            "type": event.type.value,
            "created_at": created_at.isoformat(),
            "tenant_id": tenant,
            "data": event.data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def sign(secret: str, timestamp: int, body: str | bytes) -> str:
    """The ``X-Ragd-Signature`` header value for ``body`` sent at ``timestamp``."""
    raw = body.encode() if isinstance(body, str) else body
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: the header's ``v1`` matches and ``t`` is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """The wait after the ``attempts``-th failed try: base, 2·base, 4·base, ... capped."""
    return float(min(cap, base * 2.0 ** max(0, attempts - 1)))
