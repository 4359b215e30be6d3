"""Alembic environment: runs on the connection ragd hands in (see adapters/sql/migrate.py)."""

from __future__ import annotations

from alembic import context

from ragd.adapters.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - ragd always passes its own connection
    raise RuntimeError("run migrations through `ragd migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
