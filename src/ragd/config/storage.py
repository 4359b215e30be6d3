"""Where ragd keeps its state: the Store's database and the shared Redis."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from ragd.config.section import Section, env


class StorageSettings(Section):
    """The Store's database (SQLite in the data dir, or ``DATABASE_URL``) and the Redis
    that several API replicas share for their cache and rate limits."""

    data_dir: Path
    database_url: str | None
    pool_size: int = Field(validation_alias="connection_pool_size")
    statement_timeout_ms: int
    redis_url: str | None

    @property
    def sqlalchemy_url(self) -> str:
        """The Store's database: DATABASE_URL, or the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ragd.db').resolve()}"


class StorageFields(BaseModel):
    """The environment variables of ``StorageSettings``."""

    data_dir: Path = Field(Path("./ragd-data"), validation_alias=env("RAGD_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=env("DATABASE_URL"))
    connection_pool_size: int = Field(5, ge=1, validation_alias=env("CONNECTION_POOL_SIZE"))
    statement_timeout_ms: int = Field(
        30_000, ge=0, validation_alias=env("RAGD_STATEMENT_TIMEOUT_MS")
    )
    """Postgres ``statement_timeout`` of ragd's connections (0 = none)."""
    # Shared state for several API replicas: cache and rate limits (unset: in-process)
    redis_url: str | None = Field(None, validation_alias=env("REDIS_URL"))

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings.of(self)
