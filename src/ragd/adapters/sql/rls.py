"""Postgres row-level security: the tenant policies and the per-transaction scope.

Every port method takes a tenant and filters by it; this is the second line of defence
(docs/architecture.md#tenancy): on Postgres each tenant-scoped table carries two permissive
policies,

- ``ragd_tenant_isolation``: a row is visible and writable only when its tenant column
  equals ``current_setting('ragd.tenant_id', true)``;
- ``ragd_system_bypass``: every row, when ``current_setting('ragd.system', true) = 'on'``,
  for the few operations that are cross-tenant by nature (a worker claiming the next job
  of any tenant, reaping leases, a platform admin listing tenants, ``ragd reindex``,
  migrations, the cross-tenant probe detector).

so a statement that forgets its ``WHERE tenant_id = ...`` sees (and may write) nothing,
instead of everything. Both settings are transaction-local (``set_config(..., true)``,
i.e. ``SET LOCAL``, sent as a bound parameter): they vanish at commit or rollback, so a
pooled connection never carries one request's tenant into the next. A transaction that
sets neither sees no tenant rows at all.

``ENABLE`` alone would exempt the table owner, and ragd usually owns its tables (it
migrates on start), hence ``FORCE ROW LEVEL SECURITY``. Superusers and roles with
``BYPASSRLS`` skip every policy, so ragd must connect as a role that is neither
(docs/deploy.md, "Postgres role").

How adapters use it:

- their own transactions: ``db.read(tenant)``, ``db.write(tenant)``,
  ``db.run_read(fn, tenant)``, or ``SYSTEM`` in place of the tenant;
- the Store's shared write transaction (``Store.transaction()``, handed to several
  adapters): every method taking ``tx`` starts with ``conn = scoped(tx, tenant)``; a system
  step inside such a transaction uses ``with system_scope(tx) as conn:``, which puts the
  previous scope back afterwards, so the rest of the caller's transaction never runs with
  the bypass on.

Migrations (a new tenant-scoped table must get the policies in the same revision)::

    from ragd.adapters.sql.rls import disable_tenant_rls, enable_tenant_rls

    def upgrade() -> None:
        op.create_table("outbox", ..., sa.Column("tenant_id", sa.String(64), nullable=False))
        enable_tenant_rls("outbox")

    def downgrade() -> None:
        disable_tenant_rls("outbox")
        op.drop_table("outbox")

Everything here is a no-op on SQLite (the same revisions run there).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Connection

from ragd.domain.models import TenantId

TENANT_SETTING: Final = "ragd.tenant_id"
SYSTEM_SETTING: Final = "ragd.system"
TENANT_POLICY: Final = "ragd_tenant_isolation"
SYSTEM_POLICY: Final = "ragd_system_bypass"


class SystemScope:
    """The scope of cross-tenant system operations (the bypass policy); see ``SYSTEM``."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemScope()
"""Scope of an operation that must see every tenant's rows. Use only where the operation is
cross-tenant by nature; anything that knows its tenant is scoped to it."""

Scope = TenantId | SystemScope
"""A tenant id (that tenant's rows only) or ``SYSTEM`` (every row)."""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_CACHE_KEY = "ragd.rls_scope"
_UNKNOWN = object()  # a savepoint may have changed the settings: always send them again

_SET_SCOPE = (
    f"SELECT set_config('{TENANT_SETTING}', %(tenant)s, true),"
    f" set_config('{SYSTEM_SETTING}', %(system)s, true)"
)


# --------------------------------------------------------------------------- policies


def tenant_predicate(column: str = "tenant_id") -> str:
    """The tenant policy's condition.

    The settings are read in scalar subqueries, which Postgres evaluates once per statement
    (an InitPlan) instead of once per row: measured on 20k rows per tenant, exact dense
    search 33 -> 20 ms and a rare-word sparse search 29 -> 12 ms (7.5 ms without RLS).
    ``NULLIF``: a setting made by an earlier transaction of the session reads back as
    ``''``, not NULL. Changing these conditions needs a new revision that re-applies the
    policies (``enable_tenant_rls`` replaces them).
    """
    _check_ident(column)
    return f"{column} = (SELECT NULLIF(current_setting('{TENANT_SETTING}', true), ''))"


SYSTEM_PREDICATE: Final = f"(SELECT current_setting('{SYSTEM_SETTING}', true) = 'on')"


def enable_statements(table: str, column: str = "tenant_id") -> list[str]:
    """DDL giving ``table`` the two policies, forced on its owner; idempotent."""
    _check_ident(table)
    tenant = tenant_predicate(column)
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {TENANT_POLICY} ON {table}",
        f"CREATE POLICY {TENANT_POLICY} ON {table} FOR ALL USING ({tenant}) WITH CHECK ({tenant})",
        f"DROP POLICY IF EXISTS {SYSTEM_POLICY} ON {table}",
        f"CREATE POLICY {SYSTEM_POLICY} ON {table} FOR ALL"
        f" USING ({SYSTEM_PREDICATE}) WITH CHECK ({SYSTEM_PREDICATE})",
    ]


def disable_statements(table: str) -> list[str]:
    """DDL undoing ``enable_statements``; idempotent."""
    _check_ident(table)
    return [
        f"DROP POLICY IF EXISTS {TENANT_POLICY} ON {table}",
        f"DROP POLICY IF EXISTS {SYSTEM_POLICY} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def enable_tenant_rls(
    table: str,
    *,
    column: str = "tenant_id",
    bind: Connection | None = None,
    missing_ok: bool = False,
) -> None:
    """Put ``table`` under the tenant policies (Postgres; nothing on SQLite).

    ``bind`` defaults to the running Alembic migration's connection. ``missing_ok`` skips a
    table that does not exist (the pgvector tables, which the Index creates on first use).
    """
    conn = bind if bind is not None else _alembic_bind()
    if conn.dialect.name != "postgresql" or (missing_ok and not _exists(conn, table)):
        return
    for stmt in enable_statements(table, column):
        conn.exec_driver_sql(stmt)


def disable_tenant_rls(
    table: str, *, bind: Connection | None = None, missing_ok: bool = False
) -> None:
    """Drop the tenant policies from ``table`` (Postgres; nothing on SQLite)."""
    conn = bind if bind is not None else _alembic_bind()
    if conn.dialect.name != "postgresql" or (missing_ok and not _exists(conn, table)):
        return
    for stmt in disable_statements(table):
        conn.exec_driver_sql(stmt)


def tenant_rls_enabled(conn: Connection, table: str) -> bool:
    """Whether ``table`` exists with RLS enabled and forced and both policies in place
    (lets the Index skip DDL, which needs ownership, when nothing is missing)."""
    row = conn.exec_driver_sql(
        "SELECT c.relrowsecurity AND c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid"
        "  AND p.polname IN (%(tenant_policy)s, %(system_policy)s))"
        " FROM pg_class c WHERE c.oid = to_regclass(%(table)s)",
        {"table": table, "tenant_policy": TENANT_POLICY, "system_policy": SYSTEM_POLICY},
    ).first()
    return row is not None and bool(row[0]) and int(row[1]) == 2


# --------------------------------------------------------------------------- scope


def apply_scope(conn: Connection, scope: Scope | None) -> None:
    """Scope the rest of ``conn``'s current transaction: a tenant, ``SYSTEM``, or ``None``
    (no tenant rows visible). One round trip, skipped when the transaction already has
    exactly this scope. Nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    root = conn.get_transaction()
    if root is None:
        # SET LOCAL outside a transaction lasts for no statement at all.
        raise RuntimeError("a row-level-security scope needs a transaction (db.read/db.write)")
    current = _current(conn)
    if current is not _UNKNOWN and current == scope:
        return
    if scope is SYSTEM:
        params = {"tenant": "", "system": "on"}
    elif scope is None:
        params = {"tenant": "", "system": "off"}
    else:
        if not scope:
            raise ValueError("a tenant scope needs a tenant id")
        params = {"tenant": str(scope), "system": "off"}
    conn.exec_driver_sql(_SET_SCOPE, params)
    known = scope if conn.get_nested_transaction() is None else _UNKNOWN
    conn.info[_CACHE_KEY] = (weakref.ref(root), known)


def scoped(tx: object, scope: Scope) -> Connection:
    """The Connection behind a Store transaction handle, scoped to ``scope`` (a tenant, as a
    rule) for the statements that follow."""
    conn = _connection(tx)
    apply_scope(conn, scope)
    return conn


@contextmanager
def system_scope(tx: object) -> Iterator[Connection]:
    """``SYSTEM`` for the block only, inside a transaction shared with tenant-scoped work.

    On normal exit the previous scope is restored (or "nothing visible", if it cannot be
    known), so the caller's later statements never inherit the bypass. After an exception
    nothing is sent: a failed statement has aborted the Postgres transaction, which is
    rolled back with its settings.
    """
    conn = _connection(tx)
    before = _current(conn) if conn.dialect.name == "postgresql" else None
    apply_scope(conn, SYSTEM)
    yield conn
    apply_scope(conn, None if before is _UNKNOWN else before)  # type: ignore[arg-type]


def current_scope(conn: Connection) -> Scope | None:
    """What ``apply_scope`` last set in this transaction (``None``: nothing), for tests."""
    value = _current(conn)
    return None if value is _UNKNOWN else value  # type: ignore[return-value]


# --------------------------------------------------------------------------- internals


def _current(conn: Connection) -> object:
    """The scope this transaction has, as far as ``apply_scope`` knows: a fresh transaction
    has none (``set_config(..., true)`` ends with the transaction that made it)."""
    if conn.get_nested_transaction() is not None:
        return _UNKNOWN  # a savepoint's rollback would undo a setting made inside it
    entry = conn.info.get(_CACHE_KEY)
    if entry is None or entry[0]() is not conn.get_transaction():
        return None
    return entry[1]


def _connection(tx: object) -> Connection:
    if not isinstance(tx, Connection):
        raise TypeError(
            f"expected the SQL Store's transaction (a SQLAlchemy Connection), got "
            f"{type(tx).__name__}"
        )
    return tx


def _exists(conn: Connection, table: str) -> bool:
    return bool(
        conn.exec_driver_sql("SELECT to_regclass(%(t)s) IS NOT NULL", {"t": table}).scalar_one()
    )


def _alembic_bind() -> Connection:
    from alembic import op

    return op.get_bind()


def _check_ident(name: str) -> None:
    """Table and column names are spliced into DDL: only plain lower-case identifiers."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")


# --------------------------------------------------------------------------- access (0009)

ACCESS_SETTING: Final = "ragd.access"
COLLECTIONS_SETTING: Final = "ragd.collections"
PRINCIPALS_SETTING: Final = "ragd.principals"
ACCESS_POLICY: Final = "ragd_access"

_ACCESS_OFF = (
    f"(SELECT coalesce(current_setting('{ACCESS_SETTING}', true), '') NOT IN ('on', 'all-docs'))"
)
_COLLECTIONS = f"(SELECT string_to_array(current_setting('{COLLECTIONS_SETTING}', true), ','))"
_PRINCIPALS = f"(SELECT string_to_array(current_setting('{PRINCIPALS_SETTING}', true), ','))"
_ALL_DOCS = f"(SELECT current_setting('{ACCESS_SETTING}', true) = 'all-docs')"


def access_statements(table: str) -> list[str]:
    """A restrictive read policy narrowing ``documents`` or ``chunks`` to the caller's
    readable collections and allow-lists, when the transaction carries an access scope.

    Restrictive: it is AND-ed with the tenant policies, so it can only take rows away. A
    transaction without an access scope (the worker, migrations, tenant admins) keeps
    today's tenant-wide view; ``apply_access`` turns it on for a caller with limited
    rights. A chunk is readable when its document is: the chunk policy asks ``documents``,
    whose own policies apply inside that subquery.
    """
    _check_ident(table)
    if table == "documents":
        cond = (
            f"collection_id::text = ANY ({_COLLECTIONS}::text[]) AND (readers IS NULL"
            f" OR readers IN ('null', '[]') OR {_ALL_DOCS} OR readers ?| {_PRINCIPALS})"
        )
    elif table == "chunks":
        cond = "document_id IN (SELECT d.id FROM documents d)"
    else:
        raise ValueError(f"no access policy for table {table!r}")
    using = f"{SYSTEM_PREDICATE} OR {_ACCESS_OFF} OR ({cond})"
    return [
        f"DROP POLICY IF EXISTS {ACCESS_POLICY} ON {table}",
        f"CREATE POLICY {ACCESS_POLICY} ON {table} AS RESTRICTIVE FOR SELECT USING ({using})",
    ]


def apply_access(
    conn: Connection,
    collections: tuple[str, ...] | None,
    principals: tuple[str, ...] | None,
) -> None:
    """Narrow the rest of this transaction's reads of documents and chunks (Postgres):
    ``collections`` None lifts the narrowing; ``principals`` None reads every document of
    those collections regardless of allow-lists. Nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    if conn.get_transaction() is None:
        raise RuntimeError("an access scope needs a transaction (db.read/db.write)")
    for value in (*(collections or ()), *(principals or ())):
        if "," in value:
            raise ValueError(f"not a collection or principal: {value!r}")
    mode = "" if collections is None else "all-docs" if principals is None else "on"
    conn.exec_driver_sql(
        f"SELECT set_config('{ACCESS_SETTING}', %(mode)s, true),"
        f" set_config('{COLLECTIONS_SETTING}', %(cols)s, true),"
        f" set_config('{PRINCIPALS_SETTING}', %(who)s, true)",
        {"mode": mode, "cols": ",".join(collections or ()), "who": ",".join(principals or ())},
    )
