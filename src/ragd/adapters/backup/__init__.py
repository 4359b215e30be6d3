"""Backups: S3-compatible object storage, and dumps of the Store's database (SQLite,
Postgres). Built by ``ragd.services.container.build_backup``."""
