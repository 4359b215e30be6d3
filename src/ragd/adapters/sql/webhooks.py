"""SqlWebhooks: the Webhooks port on the Store's database.

``emit`` writes through the caller's Store transaction: one ``webhook_events`` row per
event and one ``webhook_deliveries`` row per active subscription to its type, so the event
commits with the state change or not at all (the outbox pattern of ``index_outbox``).

The delivery loop's claim is a compare-and-set per row (``UPDATE ... WHERE state =
'pending' AND lease free``), which two workers on Postgres or two processes on SQLite can
race safely: one wins, the other skips the row. A delivery is claimable only when no older
delivery of the same subscription and subject (document) is still pending, so a
document's events reach each receiver in order: event n+1 waits until n is delivered or
dead. The claim and the log are cross-tenant by nature (``SYSTEM`` scope); everything a
tenant admin calls is scoped to the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, or_, select, update
from sqlalchemy.orm import aliased

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.integrations_schema import (
    webhook_deliveries,
    webhook_events,
    webhook_subscriptions,
)
from ragd.adapters.sql.rls import SYSTEM, scoped
from ragd.domain.models import TenantId, utcnow
from ragd.domain.webhooks import (
    Delivery,
    DeliveryState,
    EventType,
    NewEvent,
    Subscription,
    event_body,
)
from ragd.errors import InvalidRequest, NotFound
from ragd.ports.store import Transaction

MAX_ERROR_CHARS = 1000
CLAIM_SCAN = 4
"""Candidates read per delivery wanted: a few lose the race to another worker."""


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _subscription(row: Row[Any], *, with_secret: bool = False) -> Subscription:
    m = row._mapping
    return Subscription(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        url=m["url"],
        events=tuple(EventType(e) for e in m["events"]),
        active=bool(m["active"]),
        description=m["description"],
        created_at=_aware(m["created_at"]) or utcnow(),
        secret=m["secret"] if with_secret else "",
    )


_LOG_COLUMNS = (
    webhook_deliveries,
    webhook_events.c.event_id,
    webhook_events.c.type,
)


def _delivery(row: Row[Any], *, body: str = "", url: str = "", secret: str = "") -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        tenant_id=TenantId(m["tenant_id"]),
        subscription_id=m["subscription_id"],
        event_id=m["event_id"],
        event_type=EventType(m["type"]),
        subject=m["subject"],
        state=DeliveryState(m["state"]),
        attempts=m["attempts"],
        next_attempt_at=_aware(m["next_attempt_at"]),
        last_status=m["last_status"],
        last_error=m["last_error"],
        created_at=_aware(m["created_at"]) or utcnow(),
        delivered_at=_aware(m["delivered_at"]),
        body=body,
        url=url,
        secret=secret,
    )


class SqlWebhooks:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- subscriptions (tenant admins) ------------------------------------------------
    def create_subscription(
        self,
        tenant: TenantId,
        *,
        url: str,
        secret: str,
        events: Sequence[EventType],
        description: str,
    ) -> Subscription:
        sub_id = str(uuid.uuid4())
        with self.db.write(tenant) as conn:
            conn.execute(
                insert(webhook_subscriptions).values(
                    id=sub_id,
                    tenant_id=tenant,
                    url=url,
                    secret=secret,
                    events=[e.value for e in events],
                    active=True,
                    description=description,
                    created_at=utcnow(),
                )
            )
            row = self._get(conn, tenant, sub_id)
        return _subscription(row, with_secret=True)

    def _get(self, conn: Connection, tenant: TenantId, subscription_id: str) -> Row[Any]:
        row = conn.execute(
            select(webhook_subscriptions).where(
                webhook_subscriptions.c.tenant_id == tenant,
                webhook_subscriptions.c.id == subscription_id,
            )
        ).first()
        if row is None:
            raise NotFound(f"no webhook subscription {subscription_id!r}")
        return row

    def list_subscriptions(self, tenant: TenantId) -> list[Subscription]:
        rows = self.db.run_read(
            lambda conn: conn.execute(
                select(webhook_subscriptions)
                .where(webhook_subscriptions.c.tenant_id == tenant)
                .order_by(webhook_subscriptions.c.created_at, webhook_subscriptions.c.id)
            ).all(),
            tenant,
        )
        return [_subscription(r) for r in rows]

    def get_subscription(self, tenant: TenantId, subscription_id: str) -> Subscription:
        row = self.db.run_read(lambda conn: self._get(conn, tenant, subscription_id), tenant)
        return _subscription(row)

    def set_active(self, tenant: TenantId, subscription_id: str, active: bool) -> Subscription:
        with self.db.write(tenant) as conn:
            self._get(conn, tenant, subscription_id)
            conn.execute(
                update(webhook_subscriptions)
                .where(
                    webhook_subscriptions.c.tenant_id == tenant,
                    webhook_subscriptions.c.id == subscription_id,
                )
                .values(active=active)
            )
            return _subscription(self._get(conn, tenant, subscription_id))

    def delete_subscription(self, tenant: TenantId, subscription_id: str) -> None:
        with self.db.write(tenant) as conn:
            self._get(conn, tenant, subscription_id)
            # The log goes with it (also by cascade; explicit so the intent is here).
            conn.execute(
                delete(webhook_deliveries).where(
                    webhook_deliveries.c.tenant_id == tenant,
                    webhook_deliveries.c.subscription_id == subscription_id,
                )
            )
            conn.execute(
                delete(webhook_subscriptions).where(
                    webhook_subscriptions.c.tenant_id == tenant,
                    webhook_subscriptions.c.id == subscription_id,
                )
            )

    # -- the outbox ---------------------------------------------------------------------
    def emit(self, tx: Transaction, tenant: TenantId, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        conn = scoped(tx, tenant)
        subs = conn.execute(
            select(webhook_subscriptions.c.id, webhook_subscriptions.c.events).where(
                webhook_subscriptions.c.tenant_id == tenant,
                webhook_subscriptions.c.active.is_(True),
            )
        ).all()
        if not subs:
            return 0  # nobody listens: nothing is written (the common case)
        written = 0
        now = utcnow()
        for event in events:
            targets = [s.id for s in subs if event.type.value in (s.events or [])]
            if not targets:
                continue
            event_id = str(uuid.uuid4())
            row_id = conn.execute(
                insert(webhook_events).values(
                    tenant_id=tenant,
                    event_id=event_id,
                    type=event.type.value,
                    subject=event.subject,
                    body=event_body(event_id, tenant, event, now),
                    created_at=now,
                )
            ).inserted_primary_key
            assert row_id is not None
            conn.execute(
                insert(webhook_deliveries),
                [
                    {
                        "tenant_id": tenant,
                        "subscription_id": sub_id,
                        "event_row": row_id[0],
                        "subject": event.subject,
                        "state": DeliveryState.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for sub_id in targets
                ],
            )
            written += len(targets)
        return written

    # -- the delivery loop (every tenant) ----------------------------------------------
    def claim_due(
        self, owner: str, *, now: datetime, limit: int, lease_seconds: float
    ) -> list[Delivery]:
        d, older = webhook_deliveries, aliased(webhook_deliveries)
        pending = DeliveryState.PENDING.value
        first_of_subject = ~(
            select(older.c.id)
            .where(
                older.c.subscription_id == d.c.subscription_id,
                older.c.subject == d.c.subject,
                older.c.state == pending,
                older.c.id < d.c.id,
            )
            .exists()
        )
        free = or_(d.c.lease_expires_at.is_(None), d.c.lease_expires_at < now)
        candidates = (
            select(d.c.id)
            .where(d.c.state == pending, d.c.next_attempt_at <= now, free, first_of_subject)
            .order_by(d.c.id)
            .limit(limit * CLAIM_SCAN)
        )
        expires = now + timedelta(seconds=lease_seconds)
        # Read first: an idle loop never takes the write lock (SQLite has one writer).
        found = self.db.run_read(lambda conn: conn.execute(candidates).all(), SYSTEM)
        if not found:
            return []
        claimed: list[int] = []
        with self.db.write(SYSTEM) as conn:
            for (delivery_id,) in found:
                won = conn.execute(
                    update(d)
                    .where(d.c.id == delivery_id, d.c.state == pending, free)
                    .values(lease_owner=owner, lease_expires_at=expires)
                )
                if won.rowcount == 1:
                    claimed.append(delivery_id)
                if len(claimed) >= limit:
                    break
            if not claimed:
                return []
            rows = conn.execute(
                select(
                    *_LOG_COLUMNS,
                    webhook_events.c.body,
                    webhook_subscriptions.c.url,
                    webhook_subscriptions.c.secret,
                )
                .join(webhook_events, webhook_events.c.id == d.c.event_row)
                .join(webhook_subscriptions, webhook_subscriptions.c.id == d.c.subscription_id)
                .where(d.c.id.in_(claimed))
                .order_by(d.c.id)
            ).all()
        return [
            _delivery(
                r, body=r._mapping["body"], url=r._mapping["url"], secret=r._mapping["secret"]
            )
            for r in rows
        ]

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
        d = webhook_deliveries
        now = utcnow()
        with self.db.write(SYSTEM) as conn:
            done = conn.execute(
                update(d)
                .where(
                    d.c.id == delivery.id,
                    d.c.lease_owner == owner,
                    d.c.state == DeliveryState.PENDING.value,
                )
                .values(
                    state=state.value,
                    attempts=d.c.attempts + 1,
                    last_status=status,
                    last_error=(error or "")[:MAX_ERROR_CHARS] or None,
                    next_attempt_at=next_attempt_at,
                    delivered_at=now if state == DeliveryState.DELIVERED else None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        return bool(done.rowcount == 1)

    # -- the delivery log (tenant admins) ----------------------------------------------
    def list_deliveries(
        self,
        tenant: TenantId,
        *,
        subscription_id: str | None = None,
        state: DeliveryState | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Delivery]:
        d = webhook_deliveries
        conditions = [d.c.tenant_id == tenant]
        if subscription_id is not None:
            conditions.append(d.c.subscription_id == subscription_id)
        if state is not None:
            conditions.append(d.c.state == state.value)
        query = (
            select(*_LOG_COLUMNS)
            .join(webhook_events, webhook_events.c.id == d.c.event_row)
            .where(and_(*conditions))
            .order_by(d.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = self.db.run_read(lambda conn: conn.execute(query).all(), tenant)
        return [_delivery(r) for r in rows]

    def redeliver(self, tenant: TenantId, delivery_id: int) -> Delivery:
        d = webhook_deliveries
        with self.db.write(tenant) as conn:
            row = conn.execute(
                select(d.c.state).where(d.c.tenant_id == tenant, d.c.id == delivery_id)
            ).first()
            if row is None:
                raise NotFound(f"no webhook delivery {delivery_id}")
            if row.state != DeliveryState.DEAD.value:
                raise InvalidRequest(f"only a dead delivery can be sent again (it is {row.state})")
            conn.execute(
                update(d)
                .where(d.c.tenant_id == tenant, d.c.id == delivery_id)
                .values(state=DeliveryState.PENDING.value, next_attempt_at=utcnow())
            )
            out = conn.execute(
                select(*_LOG_COLUMNS)
                .join(webhook_events, webhook_events.c.id == d.c.event_row)
                .where(d.c.tenant_id == tenant, d.c.id == delivery_id)
            ).one()
        return _delivery(out)
