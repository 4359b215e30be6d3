"""Where ragd keeps its state: the Store's database and the shared Redis."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

from ragd.config.compat import normalise_database_url
from ragd.config.section import Section, env


class StorageSettings(Section):
    """The Store's database (SQLite in the data dir, or ``DATABASE_URL``) and the Redis
    that several API replicas share for their cache and rate limits."""

    data_dir: Path
    database_url: str | None
    pool_size: int = Field(validation_alias="connection_pool_size")
    statement_timeout_ms: int
    redis_url: str | None
    redis_password: SecretStr | None
    db_password: SecretStr | None
    redis_max_connections: int | None
    redis_socket_keepalive: bool | None

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
    # The guides' separate pieces of those URLs, merged into them (ragd.config.compat)
    redis_password: SecretStr | None = Field(None, validation_alias=env("REDIS_PASSWORD"))
    db_password: SecretStr | None = Field(None, validation_alias=env("DB_PASSWORD"))
    redis_max_connections: int | None = Field(
        None, ge=1, validation_alias=env("REDIS_MAX_CONNECTIONS", "REDIS_CONNECTION_POOL_SIZE")
    )
    redis_socket_keepalive: bool | None = Field(
        None, validation_alias=env("REDIS_SOCKET_KEEPALIVE")
    )
    """Written into ``REDIS_URL``'s query (``max_connections``, ``socket_keepalive``),
    which redis-py reads."""

    @field_validator("database_url")
    @classmethod
    def _sync_driver(cls, v: str | None) -> str | None:
        return normalise_database_url(v) if v else v

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings.of(self)
