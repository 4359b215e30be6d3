"""WebhookSettings: how the worker delivers webhooks, and where it may send them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ragd.config.section import Section, env


class WebhookSettings(Section):
    """The delivery loop's knobs (see ``WebhookFields`` for each)."""

    allow_private_urls: bool = Field(validation_alias="webhook_allow_private_urls")
    max_attempts: int = Field(validation_alias="webhook_max_attempts")
    retry_base_seconds: float = Field(validation_alias="webhook_retry_base_seconds")
    retry_max_seconds: float = Field(validation_alias="webhook_retry_max_seconds")
    timeout_seconds: float = Field(validation_alias="webhook_timeout_seconds")
    delivery_in_worker: bool = Field(validation_alias="webhook_delivery_in_worker")


class WebhookFields(BaseModel):
    """The environment variables of ``WebhookSettings``."""

    webhook_allow_private_urls: bool = Field(
        False, validation_alias=env("RAGD_WEBHOOK_ALLOW_PRIVATE_URLS")
    )
    """Allow webhook URLs on loopback, private, link-local and reserved addresses (off:
    a tenant admin could otherwise make ragd call its own network)."""
    webhook_max_attempts: int = Field(
        8, ge=1, le=100, validation_alias=env("RAGD_WEBHOOK_MAX_ATTEMPTS")
    )
    """Tries per delivery before it is dead-lettered (kept in the log, sendable again)."""
    webhook_retry_base_seconds: float = Field(
        10.0, gt=0, le=86_400, validation_alias=env("RAGD_WEBHOOK_RETRY_BASE_SECONDS")
    )
    """The wait after the first failed try; it doubles with each further one."""
    webhook_retry_max_seconds: float = Field(
        3600.0, gt=0, le=7 * 86_400, validation_alias=env("RAGD_WEBHOOK_RETRY_MAX_SECONDS")
    )
    """The longest wait between two tries."""
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias=env("RAGD_WEBHOOK_TIMEOUT_SECONDS")
    )
    """How long a receiver has to answer one POST."""
    webhook_delivery_in_worker: bool = Field(
        True, validation_alias=env("RAGD_WEBHOOK_DELIVERY_IN_WORKER")
    )
    """Workers (embedded or ``ragd worker``) run the delivery loop beside ingestion."""

    @property
    def webhooks(self) -> WebhookSettings:
        return WebhookSettings.of(self)
