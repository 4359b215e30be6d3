"""Settings: one object, built once, passed down.

Environment names follow DESIGN §6 (shared with the reference deployments); names that
only ragd has carry a ``RAGD_`` prefix. Defaults are the embedded mode: SQLite under
``./ragd-data`` and the ONNX MiniLM model shipped as a Python package.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RetrievalMode = Literal["hybrid", "dense", "sparse"]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of ragd; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True
    )

    environment: str = Field("development", validation_alias=_env("ENVIRONMENT"))
    data_dir: Path = Field(Path("./ragd-data"), validation_alias=_env("RAGD_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"))
    vector_store_type: Literal["sqlite", "pgvector", "qdrant", "opensearch"] = Field(
        "sqlite", validation_alias=_env("VECTOR_STORE_TYPE")
    )
    connection_pool_size: int = Field(5, ge=1, validation_alias=_env("CONNECTION_POOL_SIZE"))
    statement_timeout_ms: int = Field(
        30_000, ge=0, validation_alias=_env("RAGD_STATEMENT_TIMEOUT_MS")
    )
    """Postgres ``statement_timeout`` of ragd's connections (0 = none)."""
    hnsw_m: int = Field(16, ge=2, le=100, validation_alias=_env("RAGD_HNSW_M"))
    hnsw_ef_construction: int = Field(
        64, ge=4, le=1000, validation_alias=_env("RAGD_HNSW_EF_CONSTRUCTION")
    )
    hnsw_ef_search: int = Field(100, ge=1, le=1000, validation_alias=_env("RAGD_HNSW_EF_SEARCH"))
    pg_exact_below: int = Field(10_000, ge=0, validation_alias=_env("RAGD_PG_EXACT_BELOW"))
    pg_sparse_max_scored: int = Field(
        2_000, ge=1, validation_alias=_env("RAGD_PG_SPARSE_MAX_SCORED")
    )
    pg_build_memory: str = Field(
        "1GB", pattern=r"^\d+\s*(kB|MB|GB)$", validation_alias=_env("RAGD_PG_BUILD_MEMORY")
    )
    """pgvector HNSW: graph degree and build beam (applied when the index is (re)built),
    and the search beam (every query). Qdrant uses them for its per-tenant graphs."""

    # Qdrant (VECTOR_STORE_TYPE=qdrant; see ragd.adapters.index.qdrant)
    qdrant_url: str | None = Field(None, validation_alias=_env("QDRANT_URL"))
    """A cluster's URL; unset: qdrant-client's local mode in ``<data dir>/qdrant``
    (one process only); ``:memory:`` keeps it in memory."""
    qdrant_api_key: SecretStr | None = Field(None, validation_alias=_env("QDRANT_API_KEY"))
    collection_name: str = Field("ragd_chunks", validation_alias=_env("COLLECTION_NAME"))
    """The alias searches use; points live in versioned collections ``<name>_v<n>``."""
    qdrant_timeout: float = Field(10.0, gt=0, validation_alias=_env("QDRANT_TIMEOUT"))
    qdrant_max_retries: int = Field(3, ge=0, le=20, validation_alias=_env("QDRANT_MAX_RETRIES"))
    qdrant_shard_number: int | None = Field(
        None, ge=1, validation_alias=_env("QDRANT_SHARD_NUMBER")
    )
    qdrant_replication_factor: int | None = Field(
        None, ge=1, validation_alias=_env("QDRANT_REPLICATION_FACTOR")
    )
    qdrant_write_consistency_factor: int | None = Field(
        None, ge=1, validation_alias=_env("QDRANT_WRITE_CONSISTENCY_FACTOR")
    )
    """Applied when a collection is created (first start, ``ragd reindex``)."""
    qdrant_quantization: Literal["none", "int8", "binary"] = Field(
        "none", validation_alias=_env("RAGD_QDRANT_QUANTIZATION")
    )
    qdrant_fusion: Literal["client", "server"] = Field(
        "client", validation_alias=_env("RAGD_QDRANT_FUSION")
    )
    """Hybrid fusion: ragd's weighted RRF over both Query API results (the SQL indexes'
    ranking), or Qdrant's own RRF over a prefetch of both sides."""
    outbox_batch_size: int = Field(
        256, ge=1, le=10_000, validation_alias=_env("RAGD_OUTBOX_BATCH_SIZE")
    )
    outbox_lease_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("RAGD_OUTBOX_LEASE_SECONDS")
    )
    outbox_sync_in_worker: bool = Field(True, validation_alias=_env("RAGD_OUTBOX_SYNC_IN_WORKER"))
    index_maintain_seconds: float = Field(
        60.0, gt=0, validation_alias=_env("RAGD_INDEX_MAINTAIN_SECONDS")
    )
    """Ingestion workers drain the outbox between batches; off when ``ragd sync`` runs as
    a deployment of its own."""

    # Retrieval
    default_retrieval_strategy: RetrievalMode = Field(
        "hybrid", validation_alias=_env("DEFAULT_RETRIEVAL_STRATEGY")
    )
    max_retrieval_results: int = Field(
        100, ge=1, le=1000, validation_alias=_env("MAX_RETRIEVAL_RESULTS")
    )
    top_k_retrieval: int = Field(10, ge=1, le=1000, validation_alias=_env("TOP_K_RETRIEVAL"))
    top_k_rerank: int = Field(5, ge=1, le=1000, validation_alias=_env("TOP_K_RERANK"))
    similarity_threshold: float = Field(0.0, validation_alias=_env("SIMILARITY_THRESHOLD"))
    rrf_k: int = Field(10, ge=1, validation_alias=_env("RAGD_RRF_K"))
    rrf_dense_weight: float = Field(1.0, ge=0, validation_alias=_env("RAGD_RRF_DENSE_WEIGHT"))
    rrf_sparse_weight: float = Field(1.25, ge=0, validation_alias=_env("RAGD_RRF_SPARSE_WEIGHT"))
    fusion_candidates: int = Field(
        100, ge=1, le=2000, validation_alias=_env("RAGD_FUSION_CANDIDATES")
    )

    # Embedding
    embedding_model: str = Field("all-MiniLM-L6-v2", validation_alias=_env("EMBEDDING_MODEL"))
    embedding_batch_size: int = Field(
        8, ge=1, le=512, validation_alias=_env("EMBEDDING_BATCH_SIZE")
    )
    vector_size: int = Field(384, ge=1, validation_alias=_env("VECTOR_SIZE"))
    embedding_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=_env("RAGD_EMBEDDING_THREADS"),
    )
    # Remote embedders (EMBEDDING_MODEL=provider:model, see ragd.adapters.embedder.remote)
    embedding_base_url: str | None = Field(None, validation_alias=_env("EMBEDDING_BASE_URL"))
    embedding_api_key: SecretStr | None = Field(None, validation_alias=_env("EMBEDDING_API_KEY"))
    jina_api_key: SecretStr | None = Field(None, validation_alias=_env("JINA_API_KEY"))
    embedding_max_tokens: int | None = Field(
        None, ge=16, validation_alias=_env("RAGD_EMBEDDING_MAX_TOKENS")
    )
    """Input limit of a remote embedding model (default: the provider's or model's own)."""
    embedding_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("RAGD_EMBEDDING_TIMEOUT_SECONDS")
    )

    # Reranking (RERANKER_MODEL=jina:<model> | cohere:<model>; empty: none)
    reranker_model: str = Field("", validation_alias=_env("RERANKER_MODEL"))
    reranker_base_url: str | None = Field(None, validation_alias=_env("RERANKER_BASE_URL"))
    reranker_api_key: SecretStr | None = Field(None, validation_alias=_env("RERANKER_API_KEY"))
    cohere_api_key: SecretStr | None = Field(
        None, validation_alias=_env("COHERE_API_KEY", "CO_API_KEY")
    )
    reranker_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=_env("RAGD_RERANKER_TIMEOUT_SECONDS")
    )

    # Chunking and ingestion
    chunk_tokens: int = Field(256, ge=16, le=512, validation_alias=_env("RAGD_CHUNK_TOKENS"))
    chunk_overlap: int = Field(32, ge=0, validation_alias=_env("RAGD_CHUNK_OVERLAP"))
    max_document_bytes: int = Field(
        50 * 1024 * 1024, ge=1, validation_alias=_env("RAGD_MAX_DOCUMENT_BYTES")
    )
    job_max_attempts: int = Field(3, ge=1, validation_alias=_env("RAGD_JOB_MAX_ATTEMPTS"))
    job_lease_seconds: float = Field(60.0, gt=0, validation_alias=_env("RAGD_JOB_LEASE_SECONDS"))
    job_backoff_seconds: float = Field(2.0, ge=0, validation_alias=_env("RAGD_JOB_BACKOFF_SECONDS"))
    worker_batch_size: int = Field(
        32, ge=1, le=1000, validation_alias=_env("RAGD_WORKER_BATCH_SIZE")
    )
    worker_poll_seconds: float = Field(0.5, gt=0, validation_alias=_env("RAGD_WORKER_POLL_SECONDS"))
    worker_concurrency: int = Field(
        1, ge=1, le=64, validation_alias=_env("RAGD_WORKER_CONCURRENCY")
    )

    # Answering (LLM port)
    llm_provider: Literal[
        "extractive", "llamacpp", "openai", "openai-compatible", "anthropic", "ollama"
    ] = Field("extractive", validation_alias=_env("LLM_PROVIDER"))
    llm_model: str | None = Field(None, validation_alias=_env("LLM_MODEL"))
    llm_model_path: Path | None = Field(None, validation_alias=_env("LLM_MODEL_PATH"))
    llm_base_url: str | None = Field(None, validation_alias=_env("LLM_BASE_URL", "OPENAI_BASE_URL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    anthropic_model: str | None = Field(None, validation_alias=_env("ANTHROPIC_MODEL"))
    """Anthropic's model when it is a fallback (as the primary, LLM_MODEL also works)."""
    ollama_url: str = Field("http://127.0.0.1:11434", validation_alias=_env("OLLAMA_URL"))
    ollama_model: str | None = Field(None, validation_alias=_env("OLLAMA_MODEL"))
    llm_context_window: int | None = Field(
        None, ge=256, validation_alias=_env("LLM_CONTEXT_WINDOW")
    )
    llm_max_tokens: int = Field(384, ge=1, le=32768, validation_alias=_env("LLM_MAX_TOKENS"))
    llm_temperature: float = Field(0.0, ge=0, le=2, validation_alias=_env("LLM_TEMPERATURE"))
    llm_timeout_seconds: float = Field(60.0, gt=0, validation_alias=_env("LLM_TIMEOUT_SECONDS"))
    llm_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, validation_alias=_env("LLM_N_THREADS")
    )
    llm_threads_batch: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        validation_alias=_env("LLM_N_THREADS_BATCH"),
    )
    llm_fallback: str = Field("extractive", validation_alias=_env("RAGD_LLM_FALLBACK"))
    """Comma-separated providers tried after LLM_PROVIDER fails ("none": no fallback)."""
    llm_attempts: int = Field(3, ge=1, le=10, validation_alias=_env("RAGD_LLM_ATTEMPTS"))
    breaker_failures: int = Field(5, ge=1, validation_alias=_env("RAGD_BREAKER_FAILURES"))
    breaker_reset_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("RAGD_BREAKER_RESET_SECONDS")
    )
    llm_prices: str = Field("", validation_alias=_env("RAGD_LLM_PRICES"))
    """JSON price table, dollars per million tokens: {"model": {"input": x, "output": y}}."""
    answer_passages: int | None = Field(
        None, ge=1, le=50, validation_alias=_env("RAGD_ANSWER_PASSAGES")
    )
    citation_min_support: float = Field(
        0.5, ge=0, le=1, validation_alias=_env("RAGD_CITATION_MIN_SUPPORT")
    )

    # Query cache
    cache_ttl_seconds: float = Field(300.0, ge=0, validation_alias=_env("CACHE_TTL_SECONDS"))
    cache_max_size: int = Field(1024, ge=0, validation_alias=_env("CACHE_MAX_SIZE"))

    # Shared state for several API replicas: cache and rate limits (unset: in-process)
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    rate_limit_requests_per_minute: int = Field(
        0, ge=0, validation_alias=_env("RATE_LIMIT_REQUESTS_PER_MINUTE")
    )
    """Requests per minute per tenant and key; 0 turns rate limiting off."""
    rate_limit_fail_open: bool = Field(True, validation_alias=_env("RATE_LIMIT_FAIL_OPEN"))
    """On a Redis outage: allow requests (True) or refuse them (False)."""

    # Authentication and tenancy
    auth: Literal["required", "disabled"] | None = Field(None, validation_alias=_env("RAGD_AUTH"))
    """Default: required, except an embedded (SQLite) server bound to a loopback address."""
    jwt_jwks_url: str | None = Field(None, validation_alias=_env("RAGD_JWT_JWKS_URL"))
    jwt_audience: str | None = Field(None, validation_alias=_env("RAGD_JWT_AUDIENCE"))
    jwt_issuer: str | None = Field(None, validation_alias=_env("RAGD_JWT_ISSUER"))
    max_documents_per_tenant: int = Field(
        0, ge=0, validation_alias=_env("RAGD_MAX_DOCUMENTS_PER_TENANT")
    )
    max_bytes_per_tenant: int = Field(0, ge=0, validation_alias=_env("RAGD_MAX_BYTES_PER_TENANT"))
    max_llm_tokens_per_month: int = Field(
        0, ge=0, validation_alias=_env("RAGD_MAX_LLM_TOKENS_PER_MONTH")
    )
    """Quota defaults per tenant (0 = unlimited); a tenant's own limits override them."""

    # Service (used by `ragd serve` from the API issue on)
    api_host: str = Field("127.0.0.1", validation_alias=_env("API_HOST"))
    api_port: int = Field(8000, ge=1, le=65535, validation_alias=_env("API_PORT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    log_format: Literal["json", "console"] = Field("console", validation_alias=_env("LOG_FORMAT"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("JWT_SECRET", "SECRET_KEY"))
    uvicorn_workers: int = Field(1, ge=1, le=64, validation_alias=_env("UVICORN_WORKERS"))
    max_concurrent_requests: int = Field(64, ge=0, validation_alias=_env("MAX_CONCURRENT_REQUESTS"))
    """Requests in flight per process before new ones get 503 + Retry-After (0: no bound)."""
    cors_origins: str = Field(
        "", validation_alias=_env("CORS_ORIGINS"), description="Comma-separated; '*' for any."
    )
    prometheus_metrics_enabled: bool = Field(
        True, validation_alias=_env("PROMETHEUS_METRICS_ENABLED")
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    """OTLP/HTTP collector base URL (``/v1/traces`` is appended); unset: no tracing."""
    otel_service_name: str = Field("ragd", validation_alias=_env("OTEL_SERVICE_NAME"))
    tracing_enabled: bool = Field(True, validation_alias=_env("TRACING_ENABLED"))
    """``false`` turns tracing off even with an endpoint set."""
    sentry_dsn: SecretStr | None = Field(None, validation_alias=_env("SENTRY_DSN"))
    """Errors go to Sentry when set (no personal data, secrets scrubbed)."""
    max_request_bytes: int = Field(
        1024 * 1024, ge=1024, validation_alias=_env("RAGD_MAX_REQUEST_BYTES")
    )
    embedded_worker: bool | None = Field(None, validation_alias=_env("RAGD_EMBEDDED_WORKER"))
    """Run the ingestion worker inside ``ragd serve``; default: yes on SQLite."""

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: object) -> int:
        size = getattr(info, "data", {}).get("chunk_tokens", 256)
        if v >= size:
            raise ValueError(
                f"RAGD_CHUNK_OVERLAP ({v}) must be smaller than RAGD_CHUNK_TOKENS ({size})"
            )
        return v

    @property
    def auth_required(self) -> bool:
        if self.auth is not None:
            return self.auth == "required"
        loopback = self.api_host in ("127.0.0.1", "localhost", "::1")
        return not (loopback and self.vector_store_type == "sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        # A SQLite Store is the embedded mode, whichever index (Qdrant's local mode, too,
        # admits one process, so its sync must run inside the server).
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def exports_traces(self) -> bool:
        """Traces leave the process only with an endpoint and ``TRACING_ENABLED`` on."""
        return self.tracing_enabled and bool(self.otel_exporter_otlp_endpoint)

    @property
    def sqlalchemy_url(self) -> str:
        """The Store's database: DATABASE_URL, or the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ragd.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
