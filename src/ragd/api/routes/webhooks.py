"""``/api/v1/webhooks``: a tenant's webhook subscriptions and their delivery log.

Tenant admins only, on their own tenant. The secret is shown once, in the answer that
creates the subscription (ragd signs every delivery with it: ``X-Ragd-Signature``). Every
change is audited. The delivery log shows each event to each subscription: state
(``pending``, ``delivered``, ``dead``), attempts, the last HTTP status or error; a dead
delivery can be sent again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from ragd.api.deps import ServicesDep, TenantAdmin, audit
from ragd.api.schemas import Strict
from ragd.domain.webhooks import Delivery, DeliveryState, EventType, Subscription
from ragd.errors import ConfigError
from ragd.services.container import Services
from ragd.services.webhooks import WebhookService

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class SubscriptionIn(Strict):
    url: str = Field(min_length=1, max_length=2000)
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="Made by ragd when left out."
    )
    description: str = Field("", max_length=500)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    active: bool
    description: str
    created_at: datetime
    secret: str | None = None

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            url=s.url,
            events=list(s.events),
            active=s.active,
            description=s.description,
            created_at=s.created_at,
            secret=s.secret or None,
        )


class SubscriptionListOut(BaseModel):
    subscriptions: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    id: int
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

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            event_type=d.event_type,
            subject=d.subject,
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )


class DeliveryListOut(BaseModel):
    deliveries: list[DeliveryOut]
    limit: int
    offset: int


def _webhooks(services: Services) -> WebhookService:
    if services.webhooks is None:
        raise ConfigError("webhooks are not configured in this process")
    return services.webhooks


@router.post("", status_code=201, response_model=SubscriptionOut, summary="Subscribe a URL")
def subscribe(
    body: SubscriptionIn, request: Request, services: ServicesDep, principal: TenantAdmin
) -> SubscriptionOut:
    sub = _webhooks(services).subscribe(
        principal.tenant_id,
        body.url,
        [e.value for e in body.events],
        secret=body.secret,
        description=body.description,
    )
    audit(request, services, principal, "webhook.create", sub.id, detail={"url": sub.url})
    return SubscriptionOut.of(sub)


@router.get("", response_model=SubscriptionListOut, summary="The tenant's subscriptions")
def list_subscriptions(services: ServicesDep, principal: TenantAdmin) -> SubscriptionListOut:
    subs = _webhooks(services).subscriptions(principal.tenant_id)
    return SubscriptionListOut(subscriptions=[SubscriptionOut.of(s) for s in subs])


@router.get("/deliveries", response_model=DeliveryListOut, summary="The delivery log, newest first")
def deliveries(
    services: ServicesDep,
    principal: TenantAdmin,
    subscription_id: Annotated[str | None, Query(max_length=36)] = None,
    state: DeliveryState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DeliveryListOut:
    log = _webhooks(services).deliveries(
        principal.tenant_id,
        subscription_id=subscription_id,
        state=state,
        limit=limit,
        offset=offset,
    )
    return DeliveryListOut(deliveries=[DeliveryOut.of(d) for d in log], limit=limit, offset=offset)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    summary="Send a dead delivery again",
)
def redeliver(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    services: ServicesDep,
    principal: TenantAdmin,
) -> DeliveryOut:
    delivery = _webhooks(services).redeliver(principal.tenant_id, delivery_id)
    audit(request, services, principal, "webhook.redeliver", str(delivery_id))
    return DeliveryOut.of(delivery)


@router.get("/{subscription_id}", response_model=SubscriptionOut, summary="One subscription")
def get_subscription(
    subscription_id: str, services: ServicesDep, principal: TenantAdmin
) -> SubscriptionOut:
    return SubscriptionOut.of(
        _webhooks(services).subscription(principal.tenant_id, subscription_id)
    )


def _set_active(
    subscription_id: str, active: bool, request: Request, services: Services, principal: TenantAdmin
) -> SubscriptionOut:
    sub = _webhooks(services).set_active(principal.tenant_id, subscription_id, active)
    action = "webhook.enable" if active else "webhook.disable"
    audit(request, services, principal, action, subscription_id)
    return SubscriptionOut.of(sub)


@router.post(
    "/{subscription_id}/disable",
    response_model=SubscriptionOut,
    summary="Stop emitting events for it (pending deliveries still go out)",
)
def disable(
    subscription_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> SubscriptionOut:
    return _set_active(subscription_id, False, request, services, principal)


@router.post("/{subscription_id}/enable", response_model=SubscriptionOut, summary="Emit again")
def enable(
    subscription_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> SubscriptionOut:
    return _set_active(subscription_id, True, request, services, principal)


@router.delete(
    "/{subscription_id}", status_code=204, summary="Remove a subscription and its delivery log"
)
def unsubscribe(
    subscription_id: str, request: Request, services: ServicesDep, principal: TenantAdmin
) -> Response:
    _webhooks(services).unsubscribe(principal.tenant_id, subscription_id)
    audit(request, services, principal, "webhook.delete", subscription_id)
    return Response(status_code=204)
