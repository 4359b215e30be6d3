"""The Webhooks port (``SqlWebhooks``) on SQLite and on Postgres as ragd's restricted role
(row-level security applies): events commit with the caller's transaction, one delivery
per matching active subscription; a claim is leased and exclusive; a document's deliveries
are claimable only in order (n+1 waits until n is delivered or dead); tenants never see
each other's subscriptions or log; a tenant's erase takes everything with it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from ragd.adapters.sql import migrate
from ragd.adapters.sql.database import Database
from ragd.adapters.sql.integrations_schema import webhook_deliveries
from ragd.adapters.sql.rls import SYSTEM
from ragd.adapters.sql.schema import tenants
from ragd.adapters.sql.store import SqlStore
from ragd.adapters.sql.webhooks import SqlWebhooks
from ragd.domain.models import TenantId, utcnow
from ragd.domain.webhooks import DeliveryState, EventType, NewEvent
from ragd.errors import NotFound
from tests.contract.conftest import BACKENDS, database_url_for

INDEXED, FAILED = EventType.DOCUMENT_INDEXED, EventType.DOCUMENT_FAILED


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = Database(database_url_for(request.param, request, tmp_path))
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def hooks(db: Database) -> SqlWebhooks:
    return SqlWebhooks(db)


def _tenant(db: Database) -> TenantId:
    tenant = TenantId(f"t-{uuid.uuid4().hex[:12]}")
    SqlStore(db).ensure_tenant(tenant)
    return tenant


def _event(kind: EventType, doc: str, n: int = 0) -> NewEvent:
    return NewEvent(kind, doc, {"document_id": doc, "n": n})


def _claim(hooks: SqlWebhooks, owner: str = "w1", limit: int = 10) -> list:
    return hooks.claim_due(owner, now=utcnow(), limit=limit, lease_seconds=30)


def _deliver(hooks: SqlWebhooks, deliveries: list, owner: str = "w1") -> None:
    for d in deliveries:
        assert hooks.record(
            d, owner, state=DeliveryState.DELIVERED, status=200, error=None, next_attempt_at=None
        )


def test_events_commit_with_the_callers_transaction_one_per_subscription(
    db: Database, hooks: SqlWebhooks
) -> None:
    tenant = _tenant(db)
    with db.write() as tx:  # nobody subscribed: nothing written
        assert hooks.emit(tx, tenant, [_event(INDEXED, "d0")]) == 0
    a = hooks.create_subscription(
        tenant, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    hooks.create_subscription(
        tenant, url="http://b.example/h", secret="t" * 20, events=[INDEXED, FAILED], description=""
    )
    assert a.secret == "s" * 20 and hooks.get_subscription(tenant, a.id).secret == ""
    with pytest.raises(RuntimeError), db.write() as tx:
        hooks.emit(tx, tenant, [_event(INDEXED, "d1")])
        raise RuntimeError("the state change rolled back")
    assert _claim(hooks) == []
    with db.write() as tx:
        assert hooks.emit(tx, tenant, [_event(INDEXED, "d1"), _event(FAILED, "d2")]) == 3
    claimed = _claim(hooks)
    assert sorted((d.url, d.event_type) for d in claimed) == [
        ("http://a.example/h", INDEXED),
        ("http://b.example/h", FAILED),
        ("http://b.example/h", INDEXED),
    ]
    body = json.loads(claimed[0].body)
    assert body["type"] == claimed[0].event_type.value and body["tenant_id"] == tenant
    assert body["id"] == claimed[0].event_id and body["data"]["document_id"] == claimed[0].subject
    assert {d.secret for d in claimed} == {"s" * 20, "t" * 20}


def test_a_claim_is_exclusive_until_its_lease_expires(db: Database, hooks: SqlWebhooks) -> None:
    tenant = _tenant(db)
    hooks.create_subscription(
        tenant, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    with db.write() as tx:
        hooks.emit(tx, tenant, [_event(INDEXED, "d1")])
    [mine] = _claim(hooks, "w1")
    assert _claim(hooks, "w2") == []
    later = utcnow() + timedelta(seconds=31)
    [theirs] = hooks.claim_due("w2", now=later, limit=10, lease_seconds=30)
    assert theirs.id == mine.id
    # The first owner's lease was taken over: its late outcome is refused.
    assert not hooks.record(
        mine, "w1", state=DeliveryState.DELIVERED, status=200, error=None, next_attempt_at=None
    )
    assert hooks.record(
        theirs, "w2", state=DeliveryState.DELIVERED, status=200, error=None, next_attempt_at=None
    )
    [logged] = hooks.list_deliveries(tenant)
    assert logged.state == DeliveryState.DELIVERED and logged.attempts == 1


def test_a_documents_deliveries_are_claimable_only_in_order(
    db: Database, hooks: SqlWebhooks
) -> None:
    tenant = _tenant(db)
    hooks.create_subscription(
        tenant, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    for n in range(3):
        with db.write() as tx:
            hooks.emit(tx, tenant, [_event(INDEXED, "d1", n), _event(INDEXED, f"other{n}", n)])
    first = _claim(hooks)
    # d1's first event and every other document's only event; not d1's later ones.
    assert [json.loads(d.body)["data"]["n"] for d in first if d.subject == "d1"] == [0]
    assert sorted(d.subject for d in first if d.subject != "d1") == ["other0", "other1", "other2"]
    d1 = next(d for d in first if d.subject == "d1")
    _deliver(hooks, [d for d in first if d.subject != "d1"])
    retry_at = utcnow() + timedelta(seconds=60)
    assert hooks.record(
        d1, "w1", state=DeliveryState.PENDING, status=500, error="boom", next_attempt_at=retry_at
    )
    assert _claim(hooks) == []  # n=0 waits for its retry, and n=1 waits for n=0
    [again] = hooks.claim_due("w1", now=retry_at, limit=10, lease_seconds=30)
    assert again.id == d1.id and again.attempts == 1
    assert hooks.record(
        again, "w1", state=DeliveryState.DEAD, status=500, error="boom", next_attempt_at=None
    )
    [second] = _claim(hooks)  # a dead letter lets the next one go
    assert json.loads(second.body)["data"]["n"] == 1
    _deliver(hooks, [second])
    [third] = _claim(hooks)
    assert json.loads(third.body)["data"]["n"] == 2
    dead = hooks.list_deliveries(tenant, state=DeliveryState.DEAD)
    assert [d.id for d in dead] == [d1.id] and dead[0].last_error == "boom"
    assert hooks.redeliver(tenant, d1.id).state == DeliveryState.PENDING


def test_tenants_never_see_each_other(db: Database, hooks: SqlWebhooks) -> None:
    a, b = _tenant(db), _tenant(db)
    sub = hooks.create_subscription(
        a, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    with db.write() as tx:
        hooks.emit(tx, a, [_event(INDEXED, "d1")])
    with db.write() as tx:  # b has no subscription: its events go nowhere
        assert hooks.emit(tx, b, [_event(INDEXED, "d1")]) == 0
    assert hooks.list_subscriptions(b) == []
    assert hooks.list_deliveries(b) == []
    with pytest.raises(NotFound):
        hooks.get_subscription(b, sub.id)
    with pytest.raises(NotFound):
        hooks.delete_subscription(b, sub.id)
    [delivery] = hooks.list_deliveries(a)
    with pytest.raises(NotFound):
        hooks.redeliver(b, delivery.id)


def test_disabled_subscriptions_get_no_new_events_and_deleting_takes_the_log(
    db: Database, hooks: SqlWebhooks
) -> None:
    tenant = _tenant(db)
    sub = hooks.create_subscription(
        tenant, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    assert not hooks.set_active(tenant, sub.id, False).active
    with db.write() as tx:
        assert hooks.emit(tx, tenant, [_event(INDEXED, "d1")]) == 0
    hooks.set_active(tenant, sub.id, True)
    with db.write() as tx:
        assert hooks.emit(tx, tenant, [_event(INDEXED, "d1")]) == 1
    hooks.delete_subscription(tenant, sub.id)
    assert hooks.list_deliveries(tenant) == [] and _claim(hooks) == []


def test_erasing_a_tenant_erases_its_webhooks(db: Database, hooks: SqlWebhooks) -> None:
    tenant = _tenant(db)
    hooks.create_subscription(
        tenant, url="http://a.example/h", secret="s" * 20, events=[INDEXED], description=""
    )
    with db.write() as tx:
        hooks.emit(tx, tenant, [_event(INDEXED, "d1")])
    with db.write(tenant) as conn:
        conn.execute(delete(tenants).where(tenants.c.id == tenant))
    with db.read(SYSTEM) as conn:
        left = conn.execute(
            select(func.count())
            .select_from(webhook_deliveries)
            .where(webhook_deliveries.c.tenant_id == tenant)
        ).scalar_one()
    assert left == 0 and hooks.list_subscriptions(tenant) == []
