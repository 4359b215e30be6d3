"""``ragd admin``: tenants, users and API keys, as a platform administrator would manage
them over HTTP. Keys are printed once, as JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ragd.cli.common import out, print_json, services
from ragd.domain.accounts import Role
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest
from ragd.observability.logging import configure_logging
from ragd.services.container import Services


def _issued_json(issued: Any) -> dict[str, Any]:
    k = issued.key
    return {
        "key_id": k.id,
        "tenant_id": k.tenant_id,
        "user_id": k.user_id,
        "role": None if k.role is None else k.role.value,
        "key": issued.plaintext,
    }


def _role(raw: str | None) -> Role | None:
    """``--role``: a role name, or ``none`` (no limit)."""
    if raw is None or raw == "none":
        return None
    try:
        return Role(raw)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidRequest(f"unknown role {raw!r}: use one of {names}, or none") from None


RoleOpt = Annotated[
    str | None,
    typer.Option("--role", help="Limit the key to reader | editor | tenant_admin | platform_admin"),
]


def admin_create_platform_admin(
    name: Annotated[str, typer.Option("--name")] = "platform-admin",
) -> None:
    """Create a platform administrator and print their API key (shown once)."""
    created = services().account_admin.ensure_platform_admin(name)
    print_json(_issued_json(created.key))


def admin_create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="Lower-case id, e.g. acme")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    admin_email: Annotated[str | None, typer.Option("--admin-email")] = None,
) -> None:
    """Create a tenant with its first tenant admin; prints the admin's API key (once)."""
    svc = services()
    created = svc.account_admin.create_tenant(tenant_id, name=name, admin_email=admin_email)
    _audit(svc, created.tenant.id, "tenant.create", created.tenant.id)
    print_json(_issued_json(created.key))


def admin_tenants() -> None:
    """List tenants."""
    for t in services().accounts.list_tenants():
        out.print(f"{t.id}  [dim]{t.status.value}  {t.name}[/]", highlight=False)


def admin_create_user(
    tenant: Annotated[str, typer.Option("--tenant")],
    name: Annotated[str, typer.Option("--name")],
    role: Annotated[str, typer.Option("--role", help="reader | editor | tenant_admin")] = "reader",
    email: Annotated[str | None, typer.Option("--email")] = None,
) -> None:
    """Create a user and a first API key for them (printed once)."""
    parsed = _role(role)
    if parsed is None:
        raise InvalidRequest("a user needs a role")
    svc = services()
    user = svc.account_admin.create_user(
        TenantId(tenant), name, email, parsed, by=Role.PLATFORM_ADMIN
    )
    _audit(svc, tenant, "user.create", user.id, {"role": parsed.value})
    issued = svc.account_admin.issue_key(TenantId(tenant), user.id)
    _audit(svc, tenant, "key.create", issued.key.id, {"user": user.id, "role": None})
    print_json(_issued_json(issued))


def admin_revoke_key(key_id: str, tenant: Annotated[str, typer.Option("--tenant")]) -> None:
    """Revoke an API key at once."""
    svc = services()
    svc.accounts.revoke_key(TenantId(tenant), key_id)
    _audit(svc, tenant, "key.revoke", key_id)
    out.print(f"revoked {key_id}")


def admin_create_key(
    tenant: Annotated[str, typer.Option("--tenant")],
    user: Annotated[str, typer.Option("--user", help="The user id the key acts for")],
    name: Annotated[str, typer.Option("--name")] = "api key",
    role: RoleOpt = None,
    expires_in_days: Annotated[int | None, typer.Option("--expires-in-days", min=1)] = None,
) -> None:
    """Create an API key for a user, optionally limited to a role (printed once)."""
    svc = services()
    issued = svc.account_admin.issue_key(
        TenantId(tenant), user, name=name, expires_in_days=expires_in_days, role=_role(role)
    )
    limit = None if issued.key.role is None else issued.key.role.value
    _audit(svc, tenant, "key.create", issued.key.id, {"user": user, "role": limit})
    print_json(_issued_json(issued))


def admin_keys(tenant: Annotated[str, typer.Option("--tenant")]) -> None:
    """List a tenant's API keys with the role each is limited to."""
    for k in services().accounts.list_keys(TenantId(tenant)):
        state = "revoked" if k.revoked_at else "active"
        limit = k.role.value if k.role else "-"
        out.print(f"{k.id}  {k.user_id}  role={limit}  {state}  {k.name}", highlight=False)


def admin_key_role(
    key_id: str,
    tenant: Annotated[str, typer.Option("--tenant")],
    role: Annotated[str, typer.Option("--role", help="reader | editor | ... | none")],
) -> None:
    """Limit an API key to a role, at most its user's (``--role none`` lifts it)."""
    svc = services()
    before, after = svc.account_admin.set_key_role(TenantId(tenant), key_id, _role(role))
    _audit(
        svc,
        tenant,
        "key.role",
        key_id,
        {
            "before": None if before.role is None else before.role.value,
            "after": None if after.role is None else after.role.value,
        },
    )
    out.print(f"key {key_id}: role {after.role.value if after.role else 'not limited'}")


def _audit(
    svc: Services,
    tenant: str,
    action: str,
    resource: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """The command line's account changes are audited like their HTTP twins: a row in the
    audit table and a log line, which goes to stderr (logging is set up here for that) so
    that stdout keeps only the command's own output, such as a new key's JSON."""
    obs = svc.settings.observability
    configure_logging(obs.log_level, obs.log_format)
    svc.audit.record(
        TenantId(tenant),
        user_id="cli",
        action=action,
        resource=resource,
        outcome="success",
        client_ip=None,
        request_id=None,
        detail=detail,
    )
