"""``ragd admin``: tenants, users and API keys, as a platform administrator would manage
them over HTTP. Keys are printed once, as JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ragd.cli.common import out, print_json, services
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest


def _issued_json(issued: Any) -> dict[str, Any]:
    k = issued.key
    return {"key_id": k.id, "tenant_id": k.tenant_id, "user_id": k.user_id, "key": issued.plaintext}


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
    created = services().account_admin.create_tenant(tenant_id, name=name, admin_email=admin_email)
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
    from ragd.domain.accounts import Role

    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}") from None
    svc = services()
    user = svc.account_admin.create_user(
        TenantId(tenant), name, email, parsed, by=Role.PLATFORM_ADMIN
    )
    print_json(_issued_json(svc.account_admin.issue_key(TenantId(tenant), user.id)))


def admin_revoke_key(key_id: str, tenant: Annotated[str, typer.Option("--tenant")]) -> None:
    """Revoke an API key at once."""
    services().accounts.revoke_key(TenantId(tenant), key_id)
    out.print(f"revoked {key_id}")
