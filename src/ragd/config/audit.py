"""The configuration audit: nothing a deployment sets is dropped without a word.

``audit`` looks at the settings as read (after ``ragd.config.compat`` mapped the guides'
names) and at the raw environment (the process's, then ``.env``: the only two sources
ragd reads), and reports:

- errors, each one line naming the variable and what to set instead: a guide's setting
  ragd cannot honour (``ragd.config.known.REFUSED``, ``OPENSEARCH_*``), two names of one
  setting that disagree, a piece without its whole (``REDIS_PASSWORD`` without
  ``REDIS_URL``), a backend selected without what it needs, and, outside development
  (``ENVIRONMENT``), a placeholder secret or a JWT secret shorter than 32 bytes;
- warnings: an unknown variable that looks like ragd's, a key nothing uses, a setting
  another one makes moot, placeholder secrets in development.

``get_settings`` raises on the errors and logs the warnings at start; ``ragd config
check`` prints them with the effective configuration. Values are never printed for
secrets: messages name variables only, and ``describe`` masks every secret and password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr

from ragd.config import known, redis_urls
from ragd.config.compat import is_placeholder
from ragd.config.settings import SECTIONS, Settings
from ragd.errors import ConfigError

DEVELOPMENT = frozenset({"development", "dev", "local", "test", "testing"})
"""``ENVIRONMENT`` values where placeholder secrets are only warned about."""
JWT_SECRET_MIN_BYTES = 32
MASK = "****"


class ConfigRefused(ConfigError):
    """The configuration has errors; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Variable(NamedTuple):
    value: str
    origin: str  # "environment" or ".env"


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    """Guide settings that are no ragd field but already mean what ragd does."""

    def raise_on_errors(self) -> None:
        if self.errors:
            raise ConfigRefused(self.errors)


def read_environment(env_file: Path | None = Path(".env")) -> dict[str, Variable]:
    """What ragd reads, by upper-case name: the process environment wins over ``.env``
    (as in pydantic-settings, which ``Settings`` reads them with)."""
    raw: dict[str, Variable] = {}
    if env_file is not None and env_file.is_file():
        for name, value in dotenv_values(env_file).items():
            raw[name.upper()] = Variable(value or "", ".env")
    for name, value in os.environ.items():
        raw[name.upper()] = Variable(value, "environment")
    return raw


def env_names(field_name: str) -> tuple[str, ...]:
    """The variables a flat field is read from, first match wins."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(c).upper() for c in alias.choices)
    return (field_name.upper(),)


def known_names() -> set[str]:
    return {n for f in Settings.model_fields for n in env_names(f)}


def set_name(field_name: str, raw: dict[str, Variable]) -> str | None:
    """The variable that supplied ``field_name``, if one did."""
    return next((n for n in env_names(field_name) if n in raw), None)


def _secret(v: SecretStr | None) -> str | None:
    return v.get_secret_value() if v is not None else None


def _url_password(url: str | None) -> str | None:
    password = urlsplit(url).password if url and "://" in url else None
    return unquote(password) if password is not None else None


def audit(settings: Settings, raw: dict[str, Variable] | None = None) -> Report:
    """Every error and warning about ``settings`` read from ``raw`` (default: the process
    environment and ``./.env``)."""
    raw = read_environment() if raw is None else raw
    report = Report()
    _names(raw, report)
    _aliases(raw, report)
    _pieces(settings, raw, report)
    _backends(settings, raw, report)
    _keys(settings, raw, report)
    _secrets(settings, raw, report)
    return report


def _names(raw: dict[str, Variable], report: Report) -> None:
    names = known_names()
    for name, var in sorted(raw.items()):
        if name in names:
            continue
        if known.is_guide_name(name):
            if (why := known.refusal(name, var.value)) is not None:
                report.errors.append(f"{name}: {why}")
            else:
                report.accepted.append(f"{name}={var.value}: what ragd does already")
        elif (warning := known.looks_like_ragd(name, names)) is not None:
            report.warnings.append(warning)


def _aliases(raw: dict[str, Variable], report: Report) -> None:
    for f in Settings.model_fields:
        given = [n for n in env_names(f) if n in raw]
        if len({raw[n].value for n in given}) > 1:
            report.errors.append(
                f"{' and '.join(given)} are one setting and disagree: keep one ({given[0]})"
            )


def _pieces(s: Settings, raw: dict[str, Variable], report: Report) -> None:
    """Variables that complete another one, which must be there and agree."""
    if s.redis_url and (why := redis_urls.problem(s.redis_url)) is not None:
        report.errors.append(why)
    if "REDIS_PASSWORD" in raw:
        if not s.redis_url:
            report.errors.append(
                "REDIS_PASSWORD is set but REDIS_URL is not: set REDIS_URL=redis://<host>:6379 "
                "or redis+sentinel://<sentinel>:26379/<master> (the password is merged into it)"
            )
        elif _url_password(s.redis_url) != _secret(s.redis_password):
            report.errors.append(
                "REDIS_PASSWORD and the password in REDIS_URL differ: keep one of them"
            )
    for name in ("REDIS_MAX_CONNECTIONS", "REDIS_CONNECTION_POOL_SIZE", "REDIS_SOCKET_KEEPALIVE"):
        if name in raw and not s.redis_url:
            report.errors.append(
                f"{name} is set but REDIS_URL is not (cache and rate limits are then "
                "in-process): set REDIS_URL or remove it"
            )
    if "DB_PASSWORD" in raw:
        if not (s.database_url or "").startswith("postgresql"):
            report.errors.append(
                "DB_PASSWORD is set but DATABASE_URL is not a Postgres URL: set "
                "DATABASE_URL=postgresql://<user>@<host>:5432/<db> (the password is merged in)"
            )
        elif _url_password(s.database_url) != _secret(s.db_password):
            report.errors.append(
                "DB_PASSWORD and the password in DATABASE_URL differ: keep one of them"
            )
    if s.jaeger_endpoint and "OTEL_EXPORTER_OTLP_ENDPOINT" in raw:
        report.warnings.append(
            "JAEGER_ENDPOINT is ignored: OTEL_EXPORTER_OTLP_ENDPOINT is set and wins"
        )
    if "TRACING_ENABLED" in raw and s.tracing_enabled and not s.otel_exporter_otlp_endpoint:
        report.warnings.append(
            "TRACING_ENABLED is true but no OTEL_EXPORTER_OTLP_ENDPOINT (or JAEGER_ENDPOINT) "
            "is set: no traces leave the process"
        )
    if s.metrics_port and s.metrics_port == s.api_port:
        report.errors.append(
            f"METRICS_PORT={s.metrics_port} is the app's port (API_PORT): unset METRICS_PORT "
            "(/metrics is served on the app port anyway) or pick another port"
        )
    if s.metrics_port and not s.prometheus_metrics_enabled:
        report.warnings.append(
            "METRICS_PORT is set but PROMETHEUS_METRICS_ENABLED=false: no metrics are served"
        )
    level = set_name("log_level", raw)
    if s.debug and level and s.log_level != "DEBUG":
        report.errors.append(f"DEBUG=true and {level}={raw[level].value} disagree: set one of them")
    if s.debug and s.environment.lower() not in DEVELOPMENT:
        report.warnings.append(f"DEBUG=true in ENVIRONMENT={s.environment}: debug logs")
    if "TOP_K_RERANK" in raw and not s.reranker_model:
        report.warnings.append("TOP_K_RERANK is set but RERANKER_MODEL is not: nothing is reranked")


def _backends(s: Settings, raw: dict[str, Variable], report: Report) -> None:
    if s.vector_store_type == "opensearch":
        report.errors.append(f"VECTOR_STORE_TYPE=opensearch: {known.NO_OPENSEARCH}")
    if s.vector_store_type == "pgvector" and not (s.database_url or "").startswith("postgres"):
        report.errors.append(
            "VECTOR_STORE_TYPE=pgvector needs a Postgres DATABASE_URL "
            "(postgresql://user:password@host:5432/db)"
        )
    if s.qdrant_url and s.vector_store_type != "qdrant":
        report.warnings.append(
            f"QDRANT_URL is set but VECTOR_STORE_TYPE={s.vector_store_type}: Qdrant is only "
            "used by `ragd reindex --target qdrant`"
        )
    if "QDRANT_API_KEY" in raw and s.vector_store_type != "qdrant":
        report.warnings.append(
            f"QDRANT_API_KEY is set but VECTOR_STORE_TYPE={s.vector_store_type}: set QDRANT_URL "
            "(it selects qdrant) to use it"
        )
    if s.llm_provider == "ollama" and not (s.ollama_model or s.llm_model):
        who = "LLM_PROVIDER=ollama" if "LLM_PROVIDER" in raw else "OLLAMA_URL selects "
        who += "" if "LLM_PROVIDER" in raw else "LLM_PROVIDER=ollama, which"
        report.errors.append(
            f"{who} needs OLLAMA_MODEL (e.g. llama3.2); or set LLM_PROVIDER=extractive"
        )


_VENDOR_USERS = {
    "openai_api_key": ("openai", ("openai", "openai-compatible")),
    "anthropic_api_key": ("anthropic", ("anthropic",)),
    "jina_api_key": ("jina", ("jina",)),
    "cohere_api_key": ("cohere", ("cohere",)),
}


def _keys(s: Settings, raw: dict[str, Variable], report: Report) -> None:
    """Provider keys that nothing uses, and ``LLM_API_KEY`` without a vendor."""
    if "LLM_API_KEY" in raw:
        vendor = {"openai": "openai_api_key", "openai-compatible": "openai_api_key"}.get(
            s.llm_provider, "anthropic_api_key" if s.llm_provider == "anthropic" else None
        )
        if vendor is None:
            report.errors.append(
                f"LLM_API_KEY is set but LLM_PROVIDER={s.llm_provider} takes no key: set "
                "LLM_PROVIDER=openai, openai-compatible or anthropic (it signs its requests)"
            )
        elif _secret(getattr(s, vendor)) != _secret(s.llm_api_key):
            report.errors.append(
                f"LLM_API_KEY and {vendor.upper()} differ (LLM_PROVIDER={s.llm_provider}): keep one"
            )
    llm_chain = [s.llm_provider, *(p.strip() for p in s.llm_fallback.split(","))]
    embedder = s.embedding_model.partition(":")[0] if ":" in s.embedding_model else ""
    reranker = s.reranker_model.partition(":")[0]
    used = {*llm_chain, embedder, reranker}
    for key_field, (vendor, providers) in _VENDOR_USERS.items():
        name = set_name(key_field, raw)
        if name and not used & set(providers):
            report.warnings.append(
                f"{name} is set but nothing uses {vendor} (LLM_PROVIDER={s.llm_provider}, "
                f"EMBEDDING_MODEL={s.embedding_model}, RERANKER_MODEL={s.reranker_model or '-'})"
            )


def _secrets(s: Settings, raw: dict[str, Variable], report: Report) -> None:
    """Placeholders and a short JWT secret: errors outside development, else warnings."""
    development = s.environment.lower() in DEVELOPMENT
    where = "development only" if development else f"refused in ENVIRONMENT={s.environment}"
    problems: list[str] = []
    for f, info in Settings.model_fields.items():
        if "SecretStr" not in str(info.annotation) or (value := _secret(getattr(s, f))) is None:
            continue
        if f == "llm_api_key" or (name := set_name(f, raw)) is None:
            continue  # LLM_API_KEY is checked as the vendor key it became
        if is_placeholder(value):
            problems.append(f"{name} is a placeholder, not a secret ({where})")
        elif f == "secret_key" and len(value.encode()) < JWT_SECRET_MIN_BYTES:
            problems.append(
                f"{name} is shorter than {JWT_SECRET_MIN_BYTES} bytes ({where}): "
                "use `openssl rand -hex 32`"
            )
    for f, name in (("database_url", "DATABASE_URL"), ("redis_url", "REDIS_URL")):
        password = _url_password(getattr(s, f))
        if password is not None and is_placeholder(password):
            problems.append(f"{name}: its password is a placeholder ({where})")
    (report.warnings if development else report.errors).extend(problems)


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, Path):
        return str(value)
    return value


def describe(settings: Settings, raw: dict[str, Variable]) -> dict[str, dict[str, Any]]:
    """Each section's values (secrets masked) with where each came from: the variable and
    ``environment`` or ``.env``, ``default``, and how a guide's name filled it."""
    derived: dict[str, list[str]] = {}
    for f, how in settings.derivations:
        derived.setdefault(f, []).append(how)
    out: dict[str, dict[str, Any]] = {}
    for attr, section_type in SECTIONS.items():
        section = getattr(settings, attr)
        rows: dict[str, Any] = {}
        for name, flat in section_type.sources().items():
            var = set_name(flat, raw)
            source = f"{var} ({raw[var].origin})" if var else "default"
            if flat in derived:
                how = "; ".join(derived[flat])
                source = how if source == "default" else f"{source}; {how}"
            rows[name] = {"value": _shown(getattr(section, name)), "source": source}
        out[attr] = rows
    return out
