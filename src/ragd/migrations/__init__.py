"""Alembic migrations for the Store; the same revisions run on SQLite and Postgres."""
