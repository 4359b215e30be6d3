"""The HTTP service: bind address and request bounds, authentication, the query cache,
rate limits and per-tenant quotas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from ragd.config.compat import normalise_cors_origins
from ragd.config.section import Section, env

AuthMode = Literal["required", "disabled"]


class ApiSettings(Section):
    """Where ``ragd serve`` listens and what one process accepts."""

    host: str = Field(validation_alias="api_host")
    port: int = Field(validation_alias="api_port")
    workers: int = Field(validation_alias="uvicorn_workers")
    timeout_seconds: float = Field(validation_alias="api_timeout")
    max_concurrent_requests: int
    max_request_bytes: int
    cors_origins: str
    forwarded_allow_ips: str

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


class AuthSettings(Section):
    """``RAGD_AUTH`` and the JWTs ragd accepts (its own HS256 secret, or a JWKS)."""

    mode: AuthMode | None = Field(validation_alias="auth")
    jwt_jwks_url: str | None
    jwt_audience: str | None
    jwt_issuer: str | None
    secret_key: SecretStr | None
    jwt_platform_admin_issuers: str
    jwt_external_users: bool
    auth_failures_per_minute: int
    auth_key_failures_per_minute: int
    auth_max_concurrent_checks: int

    @property
    def platform_admin_issuers(self) -> frozenset[str]:
        return frozenset(i.strip() for i in self.jwt_platform_admin_issuers.split(",") if i.strip())


class CacheSettings(Section):
    """The query cache (Redis when ``REDIS_URL`` is set, else in-process)."""

    ttl_seconds: float = Field(validation_alias="cache_ttl_seconds")
    max_size: int = Field(validation_alias="cache_max_size")


class LimitsSettings(Section):
    """Rate limits per tenant and key, and quota defaults per tenant (0 = unlimited)."""

    rate_limit_requests_per_minute: int
    rate_limit_fail_open: bool
    max_documents_per_tenant: int
    max_bytes_per_tenant: int
    max_llm_tokens_per_month: int


class ApiFields(BaseModel):
    """The environment variables of ``ApiSettings``."""

    api_host: str = Field("127.0.0.1", validation_alias=env("API_HOST"))
    api_port: int = Field(8000, ge=1, le=65535, validation_alias=env("API_PORT"))
    uvicorn_workers: int = Field(
        1, ge=1, le=64, validation_alias=env("UVICORN_WORKERS", "API_WORKERS")
    )
    api_timeout: float = Field(30.0, gt=0, le=3600, validation_alias=env("API_TIMEOUT"))
    """Seconds a request in flight gets to finish when the server stops, and the longest
    a worker process may stay unresponsive before uvicorn replaces it (gunicorn's
    ``--timeout``)."""
    max_concurrent_requests: int = Field(64, ge=0, validation_alias=env("MAX_CONCURRENT_REQUESTS"))
    """Requests in flight per process before new ones get 503 + Retry-After (0: no bound)."""
    max_request_bytes: int = Field(
        1024 * 1024, ge=1024, validation_alias=env("RAGD_MAX_REQUEST_BYTES")
    )
    cors_origins: str = Field(
        "",
        validation_alias=env("CORS_ORIGINS"),
        description="Comma-separated or a JSON list; '*' for any.",
    )
    forwarded_allow_ips: str = Field("127.0.0.1,::1", validation_alias=env("FORWARDED_ALLOW_IPS"))
    """Peers whose ``X-Forwarded-For``/``-Proto`` ``ragd serve`` trusts (uvicorn's proxy
    headers): the ingress controller's addresses or CIDRs, ``*`` behind a NetworkPolicy
    that admits only the ingress. The client's real IP then reaches logs and audit."""

    @field_validator("cors_origins")
    @classmethod
    def _json_list(cls, v: str) -> str:
        return normalise_cors_origins(v)

    @property
    def api(self) -> ApiSettings:
        return ApiSettings.of(self)


class AuthFields(BaseModel):
    """The environment variables of ``AuthSettings`` (``authentication`` on Settings:
    ``auth`` is the flat ``RAGD_AUTH`` field)."""

    auth: AuthMode | None = Field(None, validation_alias=env("RAGD_AUTH"))
    """Default: required, except an embedded (SQLite) server bound to a loopback address."""
    jwt_jwks_url: str | None = Field(None, validation_alias=env("RAGD_JWT_JWKS_URL"))
    jwt_audience: str | None = Field(None, validation_alias=env("RAGD_JWT_AUDIENCE"))
    jwt_issuer: str | None = Field(None, validation_alias=env("RAGD_JWT_ISSUER"))
    secret_key: SecretStr | None = Field(
        None, validation_alias=env("JWT_SECRET", "SECRET_KEY", "JWT_SECRET_KEY")
    )
    jwt_platform_admin_issuers: str = Field(
        "", validation_alias=env("RAGD_JWT_PLATFORM_ADMIN_ISSUERS")
    )
    """Comma-separated ``iss`` values whose tokens may grant ``platform_admin`` (default:
    none, so no JWT ever does)."""
    jwt_external_users: bool = Field(False, validation_alias=env("RAGD_JWT_EXTERNAL_USERS"))
    """Trust the identity provider's users: ``sub`` need not be a ragd user (the tenant
    must still exist and be active). Off: ``sub`` must be an active user of the tenant."""
    auth_failures_per_minute: int = Field(
        10, ge=1, validation_alias=env("RAGD_AUTH_FAILURES_PER_MINUTE")
    )
    """Failed API-key checks one client address may make per minute before 429."""
    auth_key_failures_per_minute: int = Field(
        30, ge=1, validation_alias=env("RAGD_AUTH_KEY_FAILURES_PER_MINUTE")
    )
    """Failed checks against one key prefix per minute (all addresses) before 429."""
    auth_max_concurrent_checks: int = Field(
        4, ge=1, le=256, validation_alias=env("RAGD_AUTH_MAX_CONCURRENT_CHECKS")
    )
    """Argon2 key checks (19 MiB each) running at once per process; more get 503."""

    @property
    def authentication(self) -> AuthSettings:
        return AuthSettings.of(self)


class CacheFields(BaseModel):
    """The environment variables of ``CacheSettings``."""

    cache_ttl_seconds: float = Field(
        300.0, ge=0, validation_alias=env("CACHE_TTL_SECONDS", "REDIS_TTL_SECONDS")
    )
    cache_max_size: int = Field(1024, ge=0, validation_alias=env("CACHE_MAX_SIZE"))

    @property
    def cache(self) -> CacheSettings:
        return CacheSettings.of(self)


class LimitsFields(BaseModel):
    """The environment variables of ``LimitsSettings``."""

    rate_limit_requests_per_minute: int = Field(
        0, ge=0, validation_alias=env("RATE_LIMIT_REQUESTS_PER_MINUTE")
    )
    """Requests per minute per tenant and key; 0 turns rate limiting off."""
    rate_limit_fail_open: bool = Field(True, validation_alias=env("RATE_LIMIT_FAIL_OPEN"))
    """On a Redis outage: allow requests (True) or refuse them (False)."""
    max_documents_per_tenant: int = Field(
        0, ge=0, validation_alias=env("RAGD_MAX_DOCUMENTS_PER_TENANT")
    )
    max_bytes_per_tenant: int = Field(0, ge=0, validation_alias=env("RAGD_MAX_BYTES_PER_TENANT"))
    max_llm_tokens_per_month: int = Field(
        0, ge=0, validation_alias=env("RAGD_MAX_LLM_TOKENS_PER_MONTH")
    )
    """Quota defaults per tenant (0 = unlimited); a tenant's own limits override them."""

    @property
    def limits(self) -> LimitsSettings:
        return LimitsSettings.of(self)
