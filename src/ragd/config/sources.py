"""Sources: S3 buckets, web sites and server folders that ragd keeps the index equal to.

The per-source settings (bucket, start URLs, limits, interval) are the source's own, set
through the API or ``ragd sources add``; these are the service-wide bounds and the key its
secrets are sealed with.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from ragd.config.section import Section, env


class SourcesSettings(Section):
    """What the sources' use cases, readers and scheduler read."""

    secret_key: SecretStr | None = Field(validation_alias="sources_secret_key")
    folder_roots: str = Field(validation_alias="sources_folder_roots")
    in_worker: bool = Field(validation_alias="sources_in_worker")
    concurrency: int = Field(validation_alias="sources_concurrency")
    lease_seconds: float = Field(validation_alias="sources_lease_seconds")
    default_interval_seconds: int = Field(validation_alias="sources_default_interval_seconds")
    min_interval_seconds: int = Field(validation_alias="sources_min_interval_seconds")
    max_run_seconds: float = Field(validation_alias="sources_max_run_seconds")
    http_timeout_seconds: float = Field(validation_alias="sources_http_timeout_seconds")
    allow_private_networks: bool = Field(validation_alias="sources_allow_private_networks")
    watch: bool = Field(validation_alias="sources_watch")
    watch_debounce_ms: int = Field(validation_alias="sources_watch_debounce_ms")
    watch_max: int = Field(validation_alias="sources_watch_max")

    @property
    def folder_root_list(self) -> list[str]:
        return [p.strip() for p in self.folder_roots.split(",") if p.strip()]


class SourcesFields(BaseModel):
    """The environment variables of ``SourcesSettings``."""

    sources_secret_key: SecretStr | None = Field(
        None, validation_alias=env("RAGD_SOURCES_SECRET_KEY")
    )
    """Fernet key (``ragd sources keygen`` prints one) sealing sources' credentials in the
    Store. Unset: outside development a source with credentials is refused; in development
    a key file is made under ``RAGD_DATA_DIR``."""
    sources_folder_roots: str = Field("", validation_alias=env("RAGD_SOURCES_FOLDER_ROOTS"))
    """Comma-separated directories a folder source may read below; empty: no folder sources."""
    sources_in_worker: bool = Field(True, validation_alias=env("RAGD_SOURCES_IN_WORKER"))
    """The worker (embedded and ``ragd worker``) runs sources that are due."""
    sources_concurrency: int = Field(
        2, ge=1, le=32, validation_alias=env("RAGD_SOURCES_CONCURRENCY")
    )
    """Sources one worker process syncs at once (a tenant gets a second slot only when no
    other tenant's source is waiting)."""
    sources_lease_seconds: float = Field(
        60.0, gt=0, le=3600, validation_alias=env("RAGD_SOURCES_LEASE_SECONDS")
    )
    """A run holds its source for this long, renewed as it goes; a dead worker's run is taken
    over (and finished) after it expires."""
    sources_default_interval_seconds: int = Field(
        3600, ge=1, validation_alias=env("RAGD_SOURCES_DEFAULT_INTERVAL_SECONDS")
    )
    sources_min_interval_seconds: int = Field(
        60, ge=1, validation_alias=env("RAGD_SOURCES_MIN_INTERVAL_SECONDS")
    )
    """The shortest schedule a source may ask for."""
    sources_max_run_seconds: float = Field(
        3600.0, gt=0, validation_alias=env("RAGD_SOURCES_MAX_RUN_SECONDS")
    )
    """A run stops (``partial``, nothing deleted) after this long and goes on next time."""
    sources_http_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias=env("RAGD_SOURCES_HTTP_TIMEOUT_SECONDS")
    )
    """Connect and read timeout of each request to a web site or an S3 endpoint."""
    sources_allow_private_networks: bool = Field(
        False, validation_alias=env("RAGD_SOURCES_ALLOW_PRIVATE_NETWORKS")
    )
    """Web sites and S3 endpoints on loopback, private or link-local addresses (the cloud
    metadata service) are refused unless this is on."""
    sources_watch: bool = Field(True, validation_alias=env("RAGD_SOURCES_WATCH"))
    """The worker watches folder sources' folders and runs a source soon after its folder
    changes (the schedule's full scan goes on as well)."""
    sources_watch_debounce_ms: int = Field(
        1000, ge=10, le=600_000, validation_alias=env("RAGD_SOURCES_WATCH_DEBOUNCE_MS")
    )
    """A folder's changes are acted on once it has been quiet this long (at most ten times
    this under a constant stream of changes): a burst of writes gives one run."""
    sources_watch_max: int = Field(
        64, ge=0, le=4096, validation_alias=env("RAGD_SOURCES_WATCH_MAX")
    )
    """Folders one worker process watches at most (shared fairly across tenants); the rest
    are scanned on their schedule only."""

    @property
    def sources(self) -> SourcesSettings:
        return SourcesSettings.of(self)
