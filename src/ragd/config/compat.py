"""The guides' spellings of ragd's settings, read with the guide's meaning.

Deployment guides written for other RAG services name the same things differently. What
one value can carry is normalised where the field is read (a field validator calls one of
the ``normalise_*`` functions): a ``postgresql+asyncpg://`` URL gets the driver ragd uses,
``CORS_ORIGINS`` may be a JSON list, a bare Jina model name gets its ``jina:`` prefix,
``RUST_LOG=info`` is a level. What combines several variables is ``apply``, run once the
flat settings are read: ``REDIS_PASSWORD`` and ``DB_PASSWORD`` are merged into their URLs,
``JAEGER_ENDPOINT`` becomes the OTLP endpoint, ``LLM_API_KEY`` the key of the chosen
vendor, ``DEBUG=true`` the log level, and a setting that implies a backend selects it when
the backend's own variable is unset (``QDRANT_URL`` → ``VECTOR_STORE_TYPE=qdrant``;
``OLLAMA_MODEL``, or ``OLLAMA_URL`` that no Ollama embedder explains →
``LLM_PROVIDER=ollama``).

``apply`` never refuses: what cannot be read with the guide's meaning (a password without
its URL, two names of one setting that disagree) is left as it was and refused, with one
line, by ``ragd.config.audit``, which sees the same settings and the raw environment.
Each mapping ``apply`` made is recorded as a note, so ``ragd config check`` can say where
a value came from.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from ragd.config.settings import Settings

ASYNC_DRIVERS = ("postgresql+asyncpg://", "postgresql+psycopg2://", "postgresql+pg8000://")
"""Drivers of other services' ``DATABASE_URL``s; ragd's Store talks psycopg 3."""

LOG_LEVELS = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}
"""``RUST_LOG``'s and log4j's names of Python's levels."""

JAEGER_PORTS = {"14268", "14250", "6831", "6832"}
"""Jaeger's own collector/agent ports (Thrift HTTP, gRPC, UDP): traces go to its OTLP port."""
OTLP_HTTP_PORT = 4318


def normalise_database_url(url: str) -> str:
    """``postgres://``, ``postgresql://`` and the async/other drivers' schemes get
    ``postgresql+psycopg://``, the driver ragd's engine is built for."""
    for prefix in (*ASYNC_DRIVERS, "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def normalise_cors_origins(value: str) -> str:
    """A JSON list (``["https://a"]``, as pydantic apps read ``CORS_ORIGINS``) becomes
    ragd's comma list; a comma list stays as it is.

    Raises:
        ValueError: a value that starts like a JSON list but is not a list of strings.
    """
    text = value.strip()
    if not text.startswith("["):
        return value
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            "CORS_ORIGINS starts with '[' but is not a JSON list of strings; write "
            '["https://a.example"] or https://a.example,https://b.example'
        ) from exc
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("CORS_ORIGINS as JSON must be a list of strings")
    return ",".join(i.strip() for i in items if i.strip())


def normalise_log_level(value: str) -> str:
    """``info``, ``warn``, ``trace`` (``RUST_LOG``) → Python's level names.

    Raises:
        ValueError: not a level (``RUST_LOG``'s per-module directives are one).
    """
    level = value.strip().upper()
    level = LOG_LEVELS.get(level, level)
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(
            f"LOG_LEVEL (or RUST_LOG) must be one of debug, info, warning, error, critical; "
            f"got {value!r} (per-module directives are not supported)"
        )
    return level


def normalise_model_name(value: str, kind: str) -> str:
    """A bare Jina model name (``jina-embeddings-v3``, ``jina-reranker-v2-...``) is the
    Jina API's model: ``jina:<name>``. ``kind`` is ``embeddings`` or ``reranker``."""
    if value.startswith(f"jina-{kind}") or value.startswith("jina-clip"):
        return f"jina:{value}"
    return value


def with_password(url: str, password: str) -> str | None:
    """``url`` with ``password`` in its userinfo, or ``None`` when it already holds another
    one (a conflict the audit refuses)."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url if unquote(parts.password) == password else None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query (values the URL has win)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for k, v in params.items():
        query.setdefault(k, v)
    return urlunsplit(parts._replace(query=urlencode(query)))


def otlp_from_jaeger(endpoint: str) -> str:
    """Jaeger's collector URL → its OTLP/HTTP endpoint: same host, port 4318 when the
    URL names one of Jaeger's own ports, no path (ragd appends ``/v1/traces``)."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    port = parts.port
    if port is None or str(port) in JAEGER_PORTS:
        port = OTLP_HTTP_PORT
    return f"{parts.scheme or 'http'}://{parts.hostname}:{port}"


def _vendor_key_field(provider: str) -> str | None:
    return {
        "openai": "openai_api_key",
        "openai-compatible": "openai_api_key",
        "anthropic": "anthropic_api_key",
    }.get(provider)


def apply(s: Settings) -> list[tuple[str, str]]:
    """Fill ragd's settings from the guides' names; returns ``(field, note)`` per mapping.

    Mutates ``s`` (called from its own validator, before anyone else sees it)."""
    notes: list[tuple[str, str]] = []
    explicit = s.model_fields_set

    def secret(v: SecretStr | None) -> str | None:
        return v.get_secret_value() if v is not None else None

    if (
        s.redis_url
        and (pw := secret(s.redis_password)) is not None
        and (merged := with_password(s.redis_url, pw)) is not None
        and merged != s.redis_url
    ):
        s.redis_url = merged
        notes.append(("redis_url", "password from REDIS_PASSWORD"))
    if s.redis_url and (s.redis_max_connections or s.redis_socket_keepalive is not None):
        params: dict[str, str] = {}
        if s.redis_max_connections:
            params["max_connections"] = str(s.redis_max_connections)
        if s.redis_socket_keepalive is not None:
            params["socket_keepalive"] = "true" if s.redis_socket_keepalive else "false"
        s.redis_url = with_query(s.redis_url, **params)
        notes.append(("redis_url", "query " + ", ".join(params) + " from REDIS_* tuning"))
    if (
        s.database_url
        and s.database_url.startswith("postgresql")
        and (pw := secret(s.db_password)) is not None
        and (merged := with_password(s.database_url, pw)) is not None
        and merged != s.database_url
    ):
        s.database_url = merged
        notes.append(("database_url", "password from DB_PASSWORD"))
    if s.jaeger_endpoint and not s.otel_exporter_otlp_endpoint:
        s.otel_exporter_otlp_endpoint = otlp_from_jaeger(s.jaeger_endpoint)
        notes.append(("otel_exporter_otlp_endpoint", "Jaeger's OTLP/HTTP port, JAEGER_ENDPOINT"))
    if s.debug and "log_level" not in explicit:
        s.log_level = "DEBUG"
        notes.append(("log_level", "DEBUG=true"))
    if s.qdrant_url and "vector_store_type" not in explicit:
        s.vector_store_type = "qdrant"
        notes.append(("vector_store_type", "selected by QDRANT_URL"))
    ollama_embeds = s.embedding_model.startswith("ollama:")
    implied_ollama = s.ollama_model or ("ollama_url" in explicit and not ollama_embeds)
    if implied_ollama and "llm_provider" not in explicit:
        s.llm_provider = "ollama"
        by = "OLLAMA_MODEL" if s.ollama_model else "OLLAMA_URL"
        notes.append(("llm_provider", f"selected by {by}"))
    field = _vendor_key_field(s.llm_provider)
    if s.llm_api_key is not None and field is not None and getattr(s, field) is None:
        setattr(s, field, s.llm_api_key)
        notes.append((field, f"LLM_API_KEY (LLM_PROVIDER={s.llm_provider})"))
    return notes


PLACEHOLDER = re.compile(
    r"change[-_ ]?(me|this|it)|your[-_ ]|placeholder|^<.*>$|^\$\{.*\}$|^x{3,}$|^\*+$"
    r"|^(secret|password|pass|passwd|todo|tbd|none|null|default|example|test)$"
    r"|(^|[-_])password($|[-_])",
    re.IGNORECASE,
)
"""Values that are a template's, not a secret: ``CHANGE_ME``, ``your-…-here``,
``<base64-encoded-api-key>``, an unexpanded ``${VAR}``, ``secure-redis-password``."""


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(PLACEHOLDER.search(value.strip()))
