"""``ragd webhooks``: a tenant's webhook subscriptions and delivery log from the shell.

The same use cases as ``/api/v1/webhooks`` (an operator's shell stands for the tenant
admin); the secret is printed once, by ``create``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ragd.cli.common import JsonOpt, out, print_json, services
from ragd.domain.models import TenantId
from ragd.domain.webhooks import Delivery, DeliveryState, Subscription
from ragd.errors import ConfigError, InvalidRequest
from ragd.services.container import Services
from ragd.services.webhooks import WebhookService

TenantReq = Annotated[str, typer.Option("--tenant", help="The tenant the subscription is of.")]


def _service(svc: Services) -> WebhookService:
    if svc.webhooks is None:
        raise ConfigError("webhooks are not configured")
    return svc.webhooks


def _sub_json(s: Subscription) -> dict[str, Any]:
    out_: dict[str, Any] = {
        "id": s.id,
        "url": s.url,
        "events": [e.value for e in s.events],
        "active": s.active,
        "description": s.description,
        "created_at": s.created_at.isoformat(),
    }
    if s.secret:
        out_["secret"] = s.secret
    return out_


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "subscription_id": d.subscription_id,
        "event_id": d.event_id,
        "event_type": d.event_type.value,
        "subject": d.subject,
        "state": d.state.value,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
    }


def webhooks_create(
    tenant: TenantReq,
    url: Annotated[str, typer.Option("--url")],
    event: Annotated[
        list[str],
        typer.Option("--event", help="document.indexed, document.failed, document.deleted"),
    ],
    secret: Annotated[str | None, typer.Option("--secret", help="Default: made by ragd.")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Subscribe a URL to event types; prints the subscription with its secret (once)."""
    svc = services()
    try:
        sub = _service(svc).subscribe(
            TenantId(tenant), url, event, secret=secret, description=description
        )
    finally:
        svc.close()
    print_json(_sub_json(sub))


def webhooks_list(tenant: TenantReq, as_json: JsonOpt = False) -> None:
    """The tenant's subscriptions."""
    svc = services()
    try:
        subs = _service(svc).subscriptions(TenantId(tenant))
    finally:
        svc.close()
    if as_json:
        print_json([_sub_json(s) for s in subs])
        return
    for s in subs:
        state = "active" if s.active else "disabled"
        events = ",".join(e.value for e in s.events)
        out.print(f"{s.id}  {state}  {s.url}  [dim]{events}[/]", highlight=False)


def webhooks_delete(subscription_id: str, tenant: TenantReq) -> None:
    """Remove a subscription and its delivery log."""
    svc = services()
    try:
        _service(svc).unsubscribe(TenantId(tenant), subscription_id)
    finally:
        svc.close()
    out.print(f"deleted {subscription_id}")


def webhooks_deliveries(
    tenant: TenantReq,
    subscription: Annotated[str | None, typer.Option("--subscription")] = None,
    state: Annotated[str | None, typer.Option("--state", help="pending | delivered | dead")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The delivery log, newest first."""
    try:
        wanted = DeliveryState(state) if state else None
    except ValueError:
        raise InvalidRequest(f"unknown delivery state {state!r}") from None
    svc = services()
    try:
        log = _service(svc).deliveries(
            TenantId(tenant), subscription_id=subscription, state=wanted, limit=limit
        )
    finally:
        svc.close()
    if as_json:
        print_json([_delivery_json(d) for d in log])
        return
    for d in log:
        status = d.last_status if d.last_status is not None else "-"
        out.print(
            f"{d.id}  {d.state.value:9}  {d.event_type.value:17}  {d.subject}  "
            f"attempts={d.attempts} status={status}  [dim]{d.last_error or ''}[/]",
            highlight=False,
        )
