"""The guides' spellings of ragd's settings: each normalisation, merge, selection and
refusal of ``ragd.config.compat`` and ``ragd.config.audit``, on real ``Settings`` read
from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ragd.config import Settings
from ragd.config.audit import (
    ConfigRefused,
    Report,
    Variable,
    audit,
    describe,
    known_names,
)
from ragd.config.compat import is_placeholder, otlp_from_jaeger
from ragd.config.redis_urls import parse_sentinel_url


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings and their audit from exactly ``env`` (no caller variable, no ``.env``)."""
    monkeypatch.chdir(tmp_path)
    names = known_names()

    def _load(**env: str) -> tuple[Settings, Report]:
        for name in names:  # each call starts from an empty environment
            monkeypatch.delenv(name, raising=False)
        names.update(env)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = Settings()  # type: ignore[call-arg]
        return settings, audit(settings, {k: Variable(v, "environment") for k, v in env.items()})

    return _load


LONG_SECRET = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+asyncpg://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql+psycopg2://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgres://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgresql://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgresql+psycopg://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_gets_ragds_driver(load, url: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    s, report = load(DATABASE_URL=url)
    assert s.storage.database_url == expected and report.errors == []


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ('["https://a.example"]', ["https://a.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ("*", ["*"]),
    ],
)
def test_cors_origins_as_json_or_comma_list(load, value: str, origins: list[str]) -> None:  # type: ignore[no-untyped-def]
    s, _ = load(CORS_ORIGINS=value)
    assert s.api.cors_origin_list == origins


def test_a_broken_json_cors_list_is_refused(load) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        load(CORS_ORIGINS='["https://a.example"')


def test_aliases_read_as_ragds_setting(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(
        JWT_SECRET_KEY=LONG_SECRET,
        API_WORKERS="3",
        VECTOR_SEARCH_LIMIT="70",
        REDIS_TTL_SECONDS="3600",
        RUST_LOG="warn",
    )
    assert s.authentication.secret_key == SecretStr(LONG_SECRET)
    assert (s.api.workers, s.retrieval.fusion_candidates) == (3, 70)
    assert (s.cache.ttl_seconds, s.observability.log_level) == (3600.0, "WARNING")
    assert report.errors == report.warnings == []


def test_two_names_of_one_setting_that_disagree_are_refused(load) -> None:  # type: ignore[no-untyped-def]
    _, report = load(UVICORN_WORKERS="2", API_WORKERS="4")
    assert report.errors == [
        "UVICORN_WORKERS and API_WORKERS are one setting and disagree: keep one (UVICORN_WORKERS)"
    ]
    _, report = load(JWT_SECRET=LONG_SECRET, JWT_SECRET_KEY=LONG_SECRET)
    assert report.errors == []  # the same value twice is no conflict


def test_rust_log_directives_are_refused(load) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="per-module directives"):
        load(RUST_LOG="api=debug,tower=info")


def test_bare_jina_model_names_get_their_provider(load) -> None:  # type: ignore[no-untyped-def]
    s, _ = load(
        EMBEDDING_MODEL="jina-embeddings-v3",
        RERANKER_MODEL="jina-reranker-v2-base-multilingual",
        VECTOR_SIZE="1024",
        JINA_API_KEY="jina_0123456789",
    )
    assert s.embedding.model == "jina:jina-embeddings-v3"
    assert s.rerank.model == "jina:jina-reranker-v2-base-multilingual"


def test_redis_password_and_tuning_merge_into_the_url(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(
        REDIS_URL="redis://redis:6379/1",
        REDIS_PASSWORD="p@ss/word",
        REDIS_MAX_CONNECTIONS="100",
        REDIS_SOCKET_KEEPALIVE="true",
    )
    assert s.storage.redis_url == (
        "redis://:p%40ss%2Fword@redis:6379/1?max_connections=100&socket_keepalive=true"
    )
    assert report.errors == []
    import redis

    pool = redis.ConnectionPool.from_url(s.storage.redis_url)  # what redis-py makes of it
    assert pool.connection_kwargs["password"] == "p@ss/word"
    assert pool.max_connections == 100 and pool.connection_kwargs["socket_keepalive"] is True


def test_a_sentinel_url_takes_the_password_and_tuning_too(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(
        REDIS_URL="redis+sentinel://redis-sentinel:26379,redis-b:26380/mymaster/2",
        REDIS_PASSWORD="p@ss/word",
        REDIS_MAX_CONNECTIONS="100",
        ENVIRONMENT="production",
    )
    assert report.errors == []
    assert s.storage.redis_url == (
        "redis+sentinel://:p%40ss%2Fword@redis-sentinel:26379,redis-b:26380/mymaster/2"
        "?max_connections=100"
    )
    shown = describe(s, {"REDIS_URL": Variable(s.storage.redis_url or "", "environment")})
    assert "p%40ss" not in str(shown) and ":****@redis-sentinel" in str(shown)
    target = parse_sentinel_url(s.storage.redis_url or "")
    assert target.sentinels == (("redis-sentinel", 26379), ("redis-b", 26380))
    assert (target.master, target.db, target.password) == ("mymaster", 2, "p@ss/word")
    _, report = load(REDIS_URL="redis+sentinel://:one@s:26379/m", REDIS_PASSWORD="two")
    assert report.errors == [
        "REDIS_PASSWORD and the password in REDIS_URL differ: keep one of them"
    ]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis+sentinel://s:26379/", "REDIS_URL must name the Sentinel master"),
        ("redis+sentinel:///mymaster", "REDIS_URL names no Sentinel host"),
        ("redis+sentinel://s:port/m", "REDIS_URL's Sentinel port 'port' is not a port"),
        ("redis+sentinel://s/m/zero", "REDIS_URL's database 'zero' is not a number"),
        ("sentinel://s:26379/m", "REDIS_URL's scheme 'sentinel' is not one ragd reads"),
        ("http://redis:6379", "REDIS_URL's scheme 'http' is not one ragd reads"),
    ],
)
def test_redis_urls_ragd_cannot_read_are_refused_in_one_line(load, url: str, error: str) -> None:  # type: ignore[no-untyped-def]
    _, report = load(REDIS_URL=url)
    assert len(report.errors) == 1 and report.errors[0].startswith(error)


def test_metrics_port_is_read_and_checked_against_the_app_port(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(METRICS_PORT="9090", API_PORT="8910")
    assert s.observability.metrics_port == 9090 and report.errors == report.warnings == []
    _, report = load(METRICS_PORT="8910", API_PORT="8910")
    assert report.errors == [
        "METRICS_PORT=8910 is the app's port (API_PORT): unset METRICS_PORT (/metrics is "
        "served on the app port anyway) or pick another port"
    ]
    _, report = load(METRICS_PORT="9090", PROMETHEUS_METRICS_ENABLED="false")
    assert report.warnings == [
        "METRICS_PORT is set but PROMETHEUS_METRICS_ENABLED=false: no metrics are served"
    ]


def test_sentinel_hosts_default_their_port_and_take_ipv6() -> None:
    target = parse_sentinel_url("redis+sentinel://[::1]:26380,sentinel/m")
    assert target.sentinels == (("::1", 26380), ("sentinel", 26379)) and target.db == 0


def test_pieces_without_their_url_or_disagreeing_with_it_are_refused(load) -> None:  # type: ignore[no-untyped-def]
    _, report = load(REDIS_PASSWORD="x" * 20)
    assert report.errors[0].startswith("REDIS_PASSWORD is set but REDIS_URL is not")
    _, report = load(REDIS_URL="redis://:one@r:6379", REDIS_PASSWORD="two")
    assert report.errors == [
        "REDIS_PASSWORD and the password in REDIS_URL differ: keep one of them"
    ]
    _, report = load(DB_PASSWORD="pw")
    assert report.errors[0].startswith("DB_PASSWORD is set but DATABASE_URL is not a Postgres URL")
    s, report = load(DATABASE_URL="postgresql://rag@db:5432/rag", DB_PASSWORD="Zq8v")
    assert s.storage.database_url == "postgresql+psycopg://rag:Zq8v@db:5432/rag"
    assert report.errors == []


def test_jaeger_endpoint_becomes_otlp(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(JAEGER_ENDPOINT="http://jaeger:14268/api/traces")
    assert s.observability.otlp_endpoint == "http://jaeger:4318"
    assert s.exports_traces and report.warnings == []
    assert otlp_from_jaeger("http://collector:4318") == "http://collector:4318"
    s, report = load(
        JAEGER_ENDPOINT="http://jaeger:14268", OTEL_EXPORTER_OTLP_ENDPOINT="http://otel:4318"
    )
    assert s.observability.otlp_endpoint == "http://otel:4318"
    assert report.warnings == [
        "JAEGER_ENDPOINT is ignored: OTEL_EXPORTER_OTLP_ENDPOINT is set and wins"
    ]


def test_debug(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(DEBUG="true")
    assert s.log_level == "DEBUG" and report.errors == []
    s, report = load(DEBUG="false")
    assert s.log_level == "INFO"
    _, report = load(DEBUG="true", LOG_LEVEL="INFO")
    assert report.errors == ["DEBUG=true and LOG_LEVEL=INFO disagree: set one of them"]


def test_backend_selection(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(QDRANT_URL="http://qdrant:6333")
    assert s.index.backend == "qdrant" and report.errors == []
    s, report = load(QDRANT_URL="http://qdrant:6333", VECTOR_STORE_TYPE="sqlite")
    assert s.index.backend == "sqlite"
    assert report.warnings[0].startswith("QDRANT_URL is set but VECTOR_STORE_TYPE=sqlite")
    s, report = load(OLLAMA_URL="http://ollama:11434", OLLAMA_MODEL="llama3.2")
    assert s.llm.provider == "ollama" and report.errors == []
    s, report = load(OLLAMA_URL="http://ollama:11434")
    assert report.errors == [
        "OLLAMA_URL selects LLM_PROVIDER=ollama, which needs OLLAMA_MODEL (e.g. llama3.2); "
        "or set LLM_PROVIDER=extractive"
    ]
    s, report = load(OLLAMA_URL="http://ollama:11434", LLM_PROVIDER="extractive")
    assert s.llm.provider == "extractive" and report.errors == []
    # an Ollama embedder explains OLLAMA_URL: the LLM is left alone
    s, _ = load(OLLAMA_URL="http://ollama:11434", EMBEDDING_MODEL="ollama:nomic-embed-text")
    assert s.llm.provider == "extractive"
    _, report = load(OPENSEARCH_URL="https://opensearch:9200")
    assert report.errors[0].startswith("OPENSEARCH_URL: ragd has no OpenSearch backend")
    _, report = load(VECTOR_STORE_TYPE="opensearch")
    assert report.errors[0].startswith("VECTOR_STORE_TYPE=opensearch: ragd has no OpenSearch")
    _, report = load(VECTOR_STORE_TYPE="pgvector")
    assert report.errors[0].startswith("VECTOR_STORE_TYPE=pgvector needs a Postgres DATABASE_URL")


def test_llm_api_key_is_the_chosen_vendors_key(load) -> None:  # type: ignore[no-untyped-def]
    s, report = load(LLM_PROVIDER="anthropic", LLM_API_KEY="sk-ant-123")
    assert s.providers.anthropic_api_key == SecretStr("sk-ant-123") and report.errors == []
    s, _ = load(LLM_PROVIDER="openai-compatible", LLM_API_KEY="k", LLM_BASE_URL="http://v:1/v1")
    assert s.providers.openai_api_key == SecretStr("k")
    _, report = load(LLM_API_KEY="k")
    assert report.errors[0].startswith(
        "LLM_API_KEY is set but LLM_PROVIDER=extractive takes no key"
    )
    _, report = load(LLM_PROVIDER="openai", LLM_API_KEY="a", OPENAI_API_KEY="b")
    assert report.errors[0].startswith("LLM_API_KEY and OPENAI_API_KEY differ")


def test_refused_guide_settings(load) -> None:  # type: ignore[no-untyped-def]
    _, report = load(UVICORN_MAX_WORKERS="8", ASYNC_POOL_SIZE="100", API_V1_PREFIX="/api/v1")
    assert [e.split(":")[0] for e in report.errors] == ["ASYNC_POOL_SIZE", "UVICORN_MAX_WORKERS"]
    assert report.accepted == ["API_V1_PREFIX=/api/v1: what ragd does already"]


@pytest.mark.parametrize(
    "value",
    [
        "CHANGE_ME",
        "changeme",
        "your-jwt-secret-key",
        "sk-your-openai-key",
        "<base64-encoded-api-key>",
        "${JINA_API_KEY}",
        "secure-redis-password",
        "",
        "   ",
    ],
)
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["sk-proj-4c1f9e0b7a2d6e5f", LONG_SECRET, "Zq8vX2mP9tLw"])
def test_real_secrets_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_placeholder_secrets_are_refused_outside_development(load) -> None:  # type: ignore[no-untyped-def]
    env = {
        "JWT_SECRET": "CHANGE_ME",
        "OPENAI_API_KEY": "your-openai-key-here",
        "DATABASE_URL": "postgresql://ragd:changeme@db/ragd",
    }
    _, report = load(**env)  # ENVIRONMENT unset: development, warned only
    assert report.errors == [] and len([w for w in report.warnings if "placeholder" in w]) == 3
    _, report = load(**env, ENVIRONMENT="production")
    assert sorted(report.errors) == [
        "DATABASE_URL: its password is a placeholder (refused in ENVIRONMENT=production)",
        "JWT_SECRET is a placeholder, not a secret (refused in ENVIRONMENT=production)",
        "OPENAI_API_KEY is a placeholder, not a secret (refused in ENVIRONMENT=production)",
    ]
    _, report = load(JWT_SECRET="short-but-random-9f2c", ENVIRONMENT="staging")
    assert report.errors == [
        "JWT_SECRET is shorter than 32 bytes (refused in ENVIRONMENT=staging): use `openssl rand -hex 32`"
    ]
    with pytest.raises(ConfigRefused) as refused:
        report.raise_on_errors()
    assert refused.value.problems == report.errors


def test_unknown_names_that_look_like_ragds_are_warned_about(load) -> None:  # type: ignore[no-untyped-def]
    _, report = load(
        RAGD_CHUNK_TOKEN="128",  # near miss of RAGD_CHUNK_TOKENS
        DATABASE_URI="postgresql://x@db/x",  # near miss of DATABASE_URL
        RAGD_FROBNICATE="1",  # ragd's prefix
        RAGD_SERVICE_HOST="10.0.0.1",  # Kubernetes service links: the platform's
        RAGD_PORT_8000_TCP="tcp://10.0.0.1:8000",
        REDIS_PORT="tcp://10.0.0.2:6379",
        RAGD_TEST_PG_BIN="/usr/lib/postgresql/16/bin",  # the test tools'
        HOSTNAME="ragd-0",
    )
    assert report.warnings == [
        "DATABASE_URI is not a ragd setting and is ignored; did you mean DATABASE_URL?",
        "RAGD_CHUNK_TOKEN is not a ragd setting and is ignored; did you mean RAGD_CHUNK_TOKENS?",
        "RAGD_FROBNICATE is not a ragd setting and is ignored (see `ragd config check`)",
    ]


def test_describe_masks_secrets_and_names_sources(load) -> None:  # type: ignore[no-untyped-def]
    env = {
        "DATABASE_URL": "postgresql+asyncpg://rag:S3cretPw@db:5432/rag",
        "JWT_SECRET_KEY": LONG_SECRET,
        "QDRANT_URL": "http://qdrant:6333",
    }
    s, _ = load(**env)
    rows = describe(s, {k: Variable(v, "environment") for k, v in env.items()})
    assert rows["storage"]["database_url"] == {
        "value": "postgresql+psycopg://rag:****@db:5432/rag",
        "source": "DATABASE_URL (environment)",
    }
    assert rows["authentication"]["secret_key"]["value"] == "****"
    assert rows["authentication"]["secret_key"]["source"] == "JWT_SECRET_KEY (environment)"
    assert rows["index"]["backend"] == {"value": "qdrant", "source": "selected by QDRANT_URL"}
    assert rows["api"]["port"] == {"value": 8000, "source": "default"}
    assert "S3cretPw" not in str(rows) and LONG_SECRET not in str(rows)
