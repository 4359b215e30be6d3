"""``ragd collections``, ``ragd groups`` and ``ragd grants``: the tenant admin's tools.

The command line acts as the tenant's administrator (it runs where the database is), so
it sees every collection; every change is audited like its HTTP twin.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ragd.cli.common import JsonOpt, TenantOpt, out, print_json, services
from ragd.domain.access import Access
from ragd.domain.models import DEFAULT_TENANT, TenantId
from ragd.errors import InvalidRequest
from ragd.services.permissions import Actor, PermissionService

CLI = Actor(user_id="cli")


def _svc(tenant: str) -> tuple[PermissionService, Access]:
    svc = services()
    assert svc.permissions is not None
    return svc.permissions, Access(TenantId(tenant), user_id="cli")


def _settings(raw: str | None) -> dict[str, object] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidRequest("--settings takes a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidRequest("--settings takes a JSON object")
    return value


def collections_list(tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """List the tenant's collections with their document counts."""
    perms, access = _svc(tenant)
    found = perms.collections(access)
    if as_json:
        print_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "description": c.description,
                    "settings": c.settings.as_dict(),
                    "documents": c.documents,
                }
                for c in found
            ]
        )
        return
    table = Table(title_justify="left")
    for col in ("id", "name", "documents", "settings"):
        table.add_column(col)
    for c in found:
        table.add_row(c.id, c.name, str(c.documents), json.dumps(c.settings.as_dict()))
    out.print(table)


def collections_create(
    collection_id: Annotated[str, typer.Argument(help="lower-case id, e.g. hr")],
    name: Annotated[str, typer.Option("--name")],
    description: Annotated[str, typer.Option("--description")] = "",
    settings: Annotated[
        str | None, typer.Option("--settings", help='JSON, e.g. {"chunk_size": 256}')
    ] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Create a collection."""
    perms, access = _svc(tenant)
    perms.create_collection(
        access, collection_id, name, description, _settings(settings), actor=CLI
    )
    out.print(f"created collection {collection_id}")


def collections_update(
    collection_id: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    settings: Annotated[str | None, typer.Option("--settings")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Rename, describe or configure a collection."""
    perms, access = _svc(tenant)
    perms.update_collection(
        access,
        collection_id,
        name=name,
        description=description,
        settings=_settings(settings),
        actor=CLI,
    )
    out.print(f"updated collection {collection_id}")


def collections_delete(
    collection_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete every document in it")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Delete a collection and every document in it."""
    if not yes:
        raise InvalidRequest("deleting a collection deletes its documents: add --yes")
    perms, access = _svc(tenant)
    n = perms.delete_collection(access, collection_id, CLI)
    out.print(f"deleted collection {collection_id} and {n} document(s)")


def collections_move(
    document_id: str,
    to: Annotated[str | None, typer.Option("--to", help="Target collection")] = None,
    readers: Annotated[
        str | None,
        typer.Option("--readers", help="Allow-list, comma-separated (u:ID,g:ID); '' clears"),
    ] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Move a document to another collection and/or set its allow-list."""
    perms, access = _svc(tenant)
    names = None if readers is None else [r.strip() for r in readers.split(",") if r.strip()]
    perms.place_document(access, document_id, collection_id=to, readers=names, actor=CLI)
    out.print(f"placed document {document_id}")


def groups_list(tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False) -> None:
    """List groups and their members."""
    perms, access = _svc(tenant)
    found = perms.groups(access, CLI)
    if as_json:
        print_json([{"id": g.id, "name": g.name, "members": list(g.members)} for g in found])
        return
    for g in found:
        out.print(f"{g.id}\t{g.name}\t{', '.join(g.members)}")


def groups_create(
    group_id: str, name: Annotated[str, typer.Option("--name")], tenant: TenantOpt = DEFAULT_TENANT
) -> None:
    """Create a group."""
    perms, access = _svc(tenant)
    perms.create_group(access, group_id, name, CLI)
    out.print(f"created group {group_id}")


def groups_delete(group_id: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Delete a group (its memberships and grants go with it)."""
    perms, access = _svc(tenant)
    perms.delete_group(access, group_id, CLI)
    out.print(f"deleted group {group_id}")


def groups_add(group_id: str, user_id: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Add a user to a group."""
    perms, access = _svc(tenant)
    perms.set_member(access, group_id, user_id, True, CLI)
    out.print(f"added {user_id} to {group_id}")


def groups_remove(group_id: str, user_id: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Remove a user from a group."""
    perms, access = _svc(tenant)
    perms.set_member(access, group_id, user_id, False, CLI)
    out.print(f"removed {user_id} from {group_id}")


def grants_list(
    collection: Annotated[str | None, typer.Option("--collection")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """List grants (of one collection, or all)."""
    perms, access = _svc(tenant)
    found = perms.grants(access, collection)
    if as_json:
        print_json(
            [
                {"collection": g.collection_id, "principal": g.principal, "level": g.level.value}
                for g in found
            ]
        )
        return
    for g in found:
        out.print(f"{g.collection_id}\t{g.principal}\t{g.level.value}")


def grants_set(
    collection: str,
    principal: Annotated[str, typer.Argument(help="u:<user id>, g:<group id> or '*'")],
    level: Annotated[str, typer.Argument(help="read, write or manage")],
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Give a principal a level on a collection."""
    perms, access = _svc(tenant)
    perms.set_grant(access, collection, principal, level, CLI)
    out.print(f"granted {level} on {collection} to {principal}")


def grants_revoke(collection: str, principal: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Take a principal's grant on a collection away."""
    perms, access = _svc(tenant)
    perms.set_grant(access, collection, principal, None, CLI)
    out.print(f"revoked {principal} on {collection}")


def grants_key_scope(
    key_id: str,
    collection: Annotated[
        list[str] | None, typer.Option("--collection", help="Repeat; none: no limit")
    ] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Limit an API key to some collections (no --collection: lift the limit)."""
    perms, access = _svc(tenant)
    perms.set_key_collections(access, key_id, collection or None, CLI)
    out.print(f"key {key_id}: {', '.join(collection) if collection else 'no limit'}")
