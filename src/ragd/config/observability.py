"""Observability: logs, metrics, traces and error reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from ragd.config.compat import normalise_log_level
from ragd.config.section import Section, env


class ObservabilitySettings(Section):
    """Log level and format, the Prometheus endpoint, OTLP tracing and Sentry; and the
    deployment's ``ENVIRONMENT`` name that traces and error reports carry."""

    environment: str
    log_level: str
    log_format: Literal["json", "console"]
    metrics_enabled: bool = Field(validation_alias="prometheus_metrics_enabled")
    metrics_port: int
    otlp_endpoint: str | None = Field(validation_alias="otel_exporter_otlp_endpoint")
    service_name: str = Field(validation_alias="otel_service_name")
    tracing_enabled: bool
    sentry_dsn: SecretStr | None
    jaeger_endpoint: str | None
    debug: bool

    @property
    def exports_traces(self) -> bool:
        """Traces leave the process only with an endpoint and ``TRACING_ENABLED`` on."""
        return self.tracing_enabled and bool(self.otlp_endpoint)


class ObservabilityFields(BaseModel):
    """The environment variables of ``ObservabilitySettings``."""

    environment: str = Field("development", validation_alias=env("ENVIRONMENT"))
    log_level: str = Field("INFO", validation_alias=env("LOG_LEVEL", "RUST_LOG"))
    """A level name, any case (``RUST_LOG``'s ``info``, ``warn``, ``trace`` too)."""
    log_format: Literal["json", "console"] = Field("console", validation_alias=env("LOG_FORMAT"))
    prometheus_metrics_enabled: bool = Field(
        True, validation_alias=env("PROMETHEUS_METRICS_ENABLED")
    )
    metrics_port: int = Field(0, ge=0, le=65535, validation_alias=env("METRICS_PORT"))
    """``/metrics`` also on this port of its own (on ``API_HOST``); 0: the app port only."""
    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias=env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    """OTLP/HTTP collector base URL (``/v1/traces`` is appended); unset: no tracing."""
    otel_service_name: str = Field("ragd", validation_alias=env("OTEL_SERVICE_NAME"))
    tracing_enabled: bool = Field(True, validation_alias=env("TRACING_ENABLED"))
    """``false`` turns tracing off even with an endpoint set."""
    sentry_dsn: SecretStr | None = Field(None, validation_alias=env("SENTRY_DSN"))
    """Errors go to Sentry when set (no personal data, secrets scrubbed)."""
    jaeger_endpoint: str | None = Field(None, validation_alias=env("JAEGER_ENDPOINT"))
    """A Jaeger collector: traces go to its OTLP/HTTP port (4318) when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is not set (``ragd.config.compat``)."""
    debug: bool = Field(False, validation_alias=env("DEBUG"))
    """``true``: ``LOG_LEVEL=DEBUG`` (ragd never puts tracebacks in responses)."""

    @field_validator("log_level")
    @classmethod
    def _level_name(cls, v: str) -> str:
        return normalise_log_level(v)

    @property
    def observability(self) -> ObservabilitySettings:
        return ObservabilitySettings.of(self)
