"""Settings: one flat environment reader, every field in exactly one typed section."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices, SecretStr, ValidationError

from ragd.config import SECTIONS, IndexSettings, Settings

# One non-default value for every environment variable ragd reads (the first name of
# each field): a new field must be added here, and a renamed variable fails the test.
ENV = {
    "RAGD_DATA_DIR": "/tmp/ragd-env-test",
    "DATABASE_URL": "postgresql+psycopg://u:p@db:5432/ragd",
    "CONNECTION_POOL_SIZE": "7",
    "RAGD_STATEMENT_TIMEOUT_MS": "1234",
    "REDIS_URL": "redis://cache:6379/2",
    "REDIS_PASSWORD": "redis-pass",
    "DB_PASSWORD": "p",  # the same as DATABASE_URL's: merged, no conflict
    "REDIS_MAX_CONNECTIONS": "40",
    "REDIS_SOCKET_KEEPALIVE": "true",
    "VECTOR_STORE_TYPE": "qdrant",
    "RAGD_HNSW_M": "24",
    "RAGD_HNSW_EF_CONSTRUCTION": "80",
    "RAGD_HNSW_EF_SEARCH": "120",
    "RAGD_PG_EXACT_BELOW": "500",
    "RAGD_PG_SPARSE_MAX_SCORED": "900",
    "RAGD_PG_BUILD_MEMORY": "256MB",
    "QDRANT_URL": "http://qdrant:6333",
    "QDRANT_API_KEY": "qdrant-key",
    "COLLECTION_NAME": "chunks_env",
    "QDRANT_TIMEOUT": "4.5",
    "QDRANT_MAX_RETRIES": "5",
    "QDRANT_SHARD_NUMBER": "3",
    "QDRANT_REPLICATION_FACTOR": "2",
    "QDRANT_WRITE_CONSISTENCY_FACTOR": "2",
    "RAGD_QDRANT_QUANTIZATION": "int8",
    "RAGD_QDRANT_FUSION": "server",
    "RAGD_OUTBOX_BATCH_SIZE": "64",
    "RAGD_OUTBOX_LEASE_SECONDS": "30",
    "RAGD_OUTBOX_SYNC_IN_WORKER": "false",
    "RAGD_INDEX_MAINTAIN_SECONDS": "15",
    "DEFAULT_RETRIEVAL_STRATEGY": "dense",
    "MAX_RETRIEVAL_RESULTS": "50",
    "TOP_K_RETRIEVAL": "12",
    "TOP_K_RERANK": "4",
    "SIMILARITY_THRESHOLD": "0.25",
    "RAGD_RRF_K": "60",
    "RAGD_RRF_DENSE_WEIGHT": "0.5",
    "RAGD_RRF_SPARSE_WEIGHT": "2.0",
    "RAGD_FUSION_CANDIDATES": "40",
    "RAGD_FUSION": "rrf",
    "RAGD_BM25_TITLE_WEIGHT": "2.5",
    "RAGD_FUSION_DENSE_SHARE": "0.7",
    "RAGD_FUSION_ADAPTIVE": "2.5",
    "RAGD_FUSION_FEEDBACK": "2",
    "RAGD_FUSION_FEEDBACK_WEIGHT": "0.75",
    "RAGD_FUSION_FEEDBACK_DENSE_SHARE": "0.55",
    "RAGD_GRAPH_ENABLED": "true",
    "RAGD_GRAPH_STORE": "neo4j",
    "RAGD_GRAPH_EXTRACTOR": "rules",
    "RAGD_GRAPH_LLM_BATCH": "4",
    "RAGD_GRAPH_HOPS": "1",
    "RAGD_GRAPH_MAX_EDGES": "12",
    "RAGD_GRAPH_MAX_CHUNKS": "20",
    "RAGD_GRAPH_WEIGHT": "0.5",
    "RAGD_GRAPH_NAME_SIMILARITY": "0.7",
    "RAGD_GRAPH_MIN_SCORE": "0.1",
    "NEO4J_URI": "bolt://neo4j:7687",
    "NEO4J_USERNAME": "ragd",
    "NEO4J_PASSWORD": "neo4j-pass",
    "NEO4J_DATABASE": "graph",
    "EMBEDDING_MODEL": "openai:text-embedding-3-small",
    "EMBEDDING_BATCH_SIZE": "16",
    "VECTOR_SIZE": "1536",
    "RAGD_EMBEDDING_THREADS": "37",
    "EMBEDDING_BASE_URL": "http://embed:8080/v1",
    "EMBEDDING_API_KEY": "embed-key",
    "JINA_API_KEY": "jina-key",
    "RAGD_EMBEDDING_MAX_TOKENS": "512",
    "RAGD_EMBEDDING_TIMEOUT_SECONDS": "12",
    "RERANKER_MODEL": "cohere:rerank-v3.5",
    "RERANKER_BASE_URL": "http://rerank:8080",
    "RERANKER_API_KEY": "rerank-key",
    "COHERE_API_KEY": "cohere-key",
    "RAGD_RERANKER_TIMEOUT_SECONDS": "3",
    "RAGD_CHUNK_TOKENS": "128",
    "RAGD_CHUNK_OVERLAP": "16",
    "RAGD_MAX_DOCUMENT_BYTES": "2048",
    "RAGD_ARCHIVE_MAX_MEMBERS": "500",
    "RAGD_ARCHIVE_MAX_INFLATED_BYTES": "4096",
    "RAGD_ARCHIVE_MAX_MEMBER_BYTES": "1024",
    "RAGD_ARCHIVE_MAX_RATIO": "20.5",
    "RAGD_PDF_MAX_PAGES": "7",
    "RAGD_PDF_MAX_STREAM_BYTES": "8192",
    "RAGD_JOB_MAX_ATTEMPTS": "5",
    "RAGD_JOB_LEASE_SECONDS": "90",
    "RAGD_JOB_BACKOFF_SECONDS": "0.5",
    "RAGD_WORKER_BATCH_SIZE": "8",
    "RAGD_WORKER_POLL_SECONDS": "0.1",
    "RAGD_WORKER_CONCURRENCY": "4",
    "RAGD_EMBEDDED_WORKER": "false",
    "RAGD_EMBEDDED_WORKER_MODE": "thread",
    "RAGD_PARSE_SANDBOX": "false",
    "RAGD_PARSE_MEMORY_MB": "512",
    "RAGD_PARSE_TIMEOUT_SECONDS": "30",
    "RAGD_OCR_ENGINE": "tesseract",
    "RAGD_IMAGES_ENABLED": "false",
    "RAGD_IMAGE_MAX_PER_DOCUMENT": "7",
    "RAGD_IMAGE_MIN_PIXELS": "4096",
    "RAGD_VISION_PROVIDER": "openai-compatible",
    "RAGD_VISION_MODEL": "llava",
    "RAGD_VISION_BASE_URL": "http://127.0.0.1:9/",
    "RAGD_VISION_MAX_TOKENS": "200",
    "RAGD_VISION_TIMEOUT_SECONDS": "12",
    "RAGD_OCR_DPI": "150",
    "RAGD_OCR_MAX_PIXELS": "4000000",
    "RAGD_OCR_PAGE_TIMEOUT_SECONDS": "12",
    "RAGD_OCR_DOCUMENT_TIMEOUT_SECONDS": "25",
    "RAGD_OCR_MAX_PAGES": "40",
    "RAGD_OCR_THREADS": "1",
    "RAGD_OCR_MEMORY_MB": "768",
    "RAGD_INGEST_DOCUMENT_TIMEOUT_SECONDS": "120",
    "RAGD_DETECT_LANGUAGE": "false",
    "LLM_PROVIDER": "anthropic",
    "LLM_MODEL": "claude-x",
    "LLM_MODEL_PATH": "/models/m.gguf",
    "LLM_BASE_URL": "http://llm:8000/v1",
    "OPENAI_API_KEY": "openai-key",
    "ANTHROPIC_API_KEY": "anthropic-key",
    "ANTHROPIC_BASE_URL": "http://anthropic:8000",
    "ANTHROPIC_MODEL": "claude-y",
    "OLLAMA_URL": "http://ollama:11434",
    "LLM_API_KEY": "anthropic-key",  # LLM_PROVIDER=anthropic: ANTHROPIC_API_KEY's meaning
    "OLLAMA_MODEL": "llama3",
    "LLM_CONTEXT_WINDOW": "8192",
    "LLM_MAX_TOKENS": "256",
    "LLM_TEMPERATURE": "0.7",
    "LLM_TIMEOUT_SECONDS": "20",
    "LLM_N_THREADS": "41",
    "LLM_N_THREADS_BATCH": "43",
    "RAGD_LLM_FALLBACK": "ollama,none,anthropic,extractive",
    "RAGD_LLM_ATTEMPTS": "2",
    "RAGD_BREAKER_FAILURES": "9",
    "RAGD_BREAKER_RESET_SECONDS": "45",
    "RAGD_LLM_PRICES": '{"claude-x": {"input": 3, "output": 15}}',
    "RAGD_ANSWER_PASSAGES": "7",
    "RAGD_CITATION_MIN_SUPPORT": "0.8",
    "CACHE_TTL_SECONDS": "30",
    "CACHE_MAX_SIZE": "99",
    "RATE_LIMIT_REQUESTS_PER_MINUTE": "120",
    "RATE_LIMIT_FAIL_OPEN": "false",
    "RAGD_MAX_DOCUMENTS_PER_TENANT": "1000",
    "RAGD_MAX_BYTES_PER_TENANT": "1000000",
    "RAGD_MAX_LLM_TOKENS_PER_MONTH": "500000",
    "RAGD_AUTH": "required",
    "RAGD_JWT_JWKS_URL": "http://idp/.well-known/jwks.json",
    "RAGD_JWT_AUDIENCE": "ragd-api",
    "RAGD_JWT_ISSUER": "http://idp",
    "JWT_SECRET": "jwt-secret",
    "RAGD_JWT_PLATFORM_ADMIN_ISSUERS": "http://idp, http://other",
    "RAGD_JWT_EXTERNAL_USERS": "true",
    "RAGD_AUTH_FAILURES_PER_MINUTE": "7",
    "RAGD_AUTH_KEY_FAILURES_PER_MINUTE": "21",
    "RAGD_AUTH_MAX_CONCURRENT_CHECKS": "3",
    "API_HOST": "0.0.0.0",
    "API_PORT": "9000",
    "UVICORN_WORKERS": "4",
    "API_TIMEOUT": "120",
    "MAX_CONCURRENT_REQUESTS": "32",
    "RAGD_MAX_REQUEST_BYTES": "4096",
    "CORS_ORIGINS": "https://a.example, https://b.example",
    "FORWARDED_ALLOW_IPS": "10.0.0.0/8",
    "ENVIRONMENT": "production",
    "LOG_LEVEL": "DEBUG",
    "LOG_FORMAT": "json",
    "PROMETHEUS_METRICS_ENABLED": "false",
    "METRICS_PORT": "9090",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318",
    "OTEL_SERVICE_NAME": "ragd-test",
    "TRACING_ENABLED": "false",
    "SENTRY_DSN": "https://key@sentry.example/1",
    "JAEGER_ENDPOINT": "http://jaeger:14268",  # OTEL_EXPORTER_OTLP_ENDPOINT wins
    "DEBUG": "true",  # with LOG_LEVEL=DEBUG: they agree
    "RAGD_BACKUP_BUCKET": "backups",
    "RAGD_BACKUP_PREFIX": "prod/ragd/",
    "AWS_ENDPOINT_URL_S3": "http://minio:9000",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "backup-key-id",
    "AWS_SECRET_ACCESS_KEY": "backup-secret",
    "RAGD_BACKUP_S3_ADDRESSING_STYLE": "path",
    "RAGD_BACKUP_KEEP_DAILY": "14",
    "RAGD_BACKUP_KEEP_WEEKLY": "8",
    "RAGD_BACKUP_WORK_DIR": "/backup-work",
    "RAGD_PG_BIN_DIR": "/usr/lib/postgresql/17/bin",
    "RAGD_SOURCES_SECRET_KEY": "sources-key",
    "RAGD_SOURCES_FOLDER_ROOTS": "/srv/share,/mnt/docs",
    "RAGD_SOURCES_IN_WORKER": "false",
    "RAGD_SOURCES_CONCURRENCY": "3",
    "RAGD_SOURCES_LEASE_SECONDS": "30",
    "RAGD_SOURCES_DEFAULT_INTERVAL_SECONDS": "600",
    "RAGD_SOURCES_MIN_INTERVAL_SECONDS": "5",
    "RAGD_SOURCES_MAX_RUN_SECONDS": "900",
    "RAGD_SOURCES_HTTP_TIMEOUT_SECONDS": "5",
    "RAGD_SOURCES_ALLOW_PRIVATE_NETWORKS": "true",
    "RAGD_SOURCES_WATCH": "false",
    "RAGD_SOURCES_WATCH_DEBOUNCE_MS": "250",
    "RAGD_SOURCES_WATCH_MAX": "8",
    "RAGD_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "RAGD_WEBHOOK_MAX_ATTEMPTS": "3",
    "RAGD_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "RAGD_WEBHOOK_RETRY_MAX_SECONDS": "60",
    "RAGD_WEBHOOK_TIMEOUT_SECONDS": "2",
    "RAGD_WEBHOOK_DELIVERY_IN_WORKER": "false",
}


def env_names(field: str) -> tuple[str, ...]:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices), field
    return tuple(str(c) for c in alias.choices)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No ragd variable of the caller's environment and no ``.env`` of the checkout."""
    for field in Settings.model_fields:
        for name in env_names(field):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_every_field_belongs_to_exactly_one_section() -> None:
    owners: dict[str, list[str]] = {}
    for attr, section in SECTIONS.items():
        for source in section.sources().values():
            owners.setdefault(source, []).append(attr)
    assert set(owners) - set(Settings.model_fields) == set(), "a section reads no field"
    assert {f: o for f, o in owners.items() if len(o) > 1} == {}, "a field in two sections"
    assert set(Settings.model_fields) - set(owners) == set(), "a field in no section"


def test_every_environment_variable_is_pinned() -> None:
    assert {env_names(f)[0] for f in Settings.model_fields} == set(ENV)


def test_sections_round_trip_the_environment(isolated: pytest.MonkeyPatch) -> None:
    defaults = Settings()  # type: ignore[call-arg]
    for name, value in ENV.items():
        isolated.setenv(name, value)
    settings = Settings()  # type: ignore[call-arg]
    for field in Settings.model_fields:  # every variable was read (none left at default;
        # the thread counts default to the CPU count, hence odd values above)
        assert getattr(settings, field) != getattr(defaults, field), field
    for attr, section_type in SECTIONS.items():
        section = getattr(settings, attr)
        assert type(section) is section_type
        for name, source in section_type.sources().items():
            assert getattr(section, name) == getattr(settings, source), f"{attr}.{name}"
    # a few by hand, through the sections' own names
    assert settings.index.backend == "qdrant" and settings.index.qdrant_collection == "chunks_env"
    assert settings.storage.pool_size == 7
    assert settings.storage.redis_url == (  # REDIS_PASSWORD and the REDIS_* tuning merged in
        "redis://:redis-pass@cache:6379/2?max_connections=40&socket_keepalive=true"
    )
    assert settings.api.timeout_seconds == 120
    assert settings.embedding.api_key == SecretStr("embed-key")
    assert settings.llm.chain == ["anthropic", "ollama", "extractive"]
    assert settings.retrieval.default_mode == "dense" and settings.retrieval.top_k == 12
    assert settings.api.cors_origin_list == ["https://a.example", "https://b.example"]
    assert settings.authentication.mode == "required"
    assert settings.authentication.platform_admin_issuers == {"http://idp", "http://other"}
    assert settings.observability.otlp_endpoint == "http://otel:4318"
    assert settings.observability.metrics_port == 9090
    assert not settings.observability.exports_traces  # TRACING_ENABLED=false wins


def test_second_names_still_read(isolated: pytest.MonkeyPatch) -> None:
    isolated.setenv("OPENAI_BASE_URL", "http://compat:1/v1")
    isolated.setenv("CO_API_KEY", "co-key")
    isolated.setenv("SECRET_KEY", "legacy-secret")
    s = Settings()  # type: ignore[call-arg]
    assert s.llm.base_url == "http://compat:1/v1"
    assert s.providers.cohere_api_key == SecretStr("co-key")
    assert s.authentication.secret_key == SecretStr("legacy-secret")


def test_sections_are_filled_from_dotenv(isolated: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # pydantic-settings #279: a nested BaseSettings would miss the parent's .env
    (tmp_path / ".env").write_text("VECTOR_STORE_TYPE=pgvector\nRAGD_HNSW_M=32\n")
    s = Settings()  # type: ignore[call-arg]
    assert (s.index.backend, s.index.hnsw_m) == ("pgvector", 32)


def test_sections_follow_copies_and_flat_keywords() -> None:
    s = Settings(data_dir=Path("/tmp/x"), vector_store_type="sqlite", embedding_batch_size=4)  # type: ignore[call-arg]
    assert (s.embedding.batch_size, s.storage.sqlalchemy_url) == (4, "sqlite:////tmp/x/ragd.db")
    copy = s.model_copy(update={"vector_store_type": "pgvector"})
    assert (copy.index.backend, s.index.backend) == ("pgvector", "sqlite")


def test_sections_are_frozen() -> None:
    index = Settings().index  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        index.hnsw_m = 8  # type: ignore[misc]
    assert isinstance(index, IndexSettings)


def test_the_error_reporter_sees_every_secret_of_every_section() -> None:
    from ragd.observability.error_reporting import configured_secrets

    secret_fields = [
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    ]
    assert len(secret_fields) >= 9  # provider keys, JWT secret, Sentry DSN, Qdrant key
    values = {name: f"secret-{i:02d}-{name}" for i, name in enumerate(secret_fields)}
    settings = Settings(**values)  # type: ignore[arg-type]
    assert set(settings.sections()) == set(SECTIONS)
    assert set(configured_secrets(settings)) == set(values.values())


def test_backup_settings_read_the_aws_sdks_names(isolated: pytest.MonkeyPatch) -> None:
    isolated.setenv("AWS_ENDPOINT_URL", "http://minio:9000")  # the SDK's all-services name
    isolated.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    isolated.setenv("PG_BIN_DIR", "/opt/pg/bin")  # scripts/backup.sh's name
    backup = Settings().backup  # type: ignore[call-arg]
    assert backup.endpoint_url == "http://minio:9000" and backup.region == "eu-central-1"
    assert str(backup.pg_bin_dir) == "/opt/pg/bin"
    assert (backup.keep_daily, backup.keep_weekly, backup.bucket) == (7, 4, None)
