"""The search index: which backend, and the knobs of pgvector, Qdrant and the outbox."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from ragd.config.section import Section, env

IndexBackend = Literal["sqlite", "pgvector", "qdrant", "opensearch"]


class IndexSettings(Section):
    """``VECTOR_STORE_TYPE`` and what its backend reads (see ``IndexFields`` for each)."""

    backend: IndexBackend = Field(validation_alias="vector_store_type")
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int
    pg_exact_below: int
    pg_sparse_max_scored: int
    pg_build_memory: str
    qdrant_url: str | None
    qdrant_api_key: SecretStr | None
    qdrant_collection: str = Field(validation_alias="collection_name")
    qdrant_timeout: float
    qdrant_max_retries: int
    qdrant_shard_number: int | None
    qdrant_replication_factor: int | None
    qdrant_write_consistency_factor: int | None
    qdrant_quantization: Literal["none", "int8", "binary"]
    qdrant_fusion: Literal["client", "server"]
    outbox_batch_size: int
    outbox_lease_seconds: float
    outbox_sync_in_worker: bool
    maintain_seconds: float = Field(validation_alias="index_maintain_seconds")
    bm25_title_weight: float


class IndexFields(BaseModel):
    """The environment variables of ``IndexSettings``."""

    vector_store_type: IndexBackend = Field("sqlite", validation_alias=env("VECTOR_STORE_TYPE"))
    bm25_title_weight: float = Field(
        1.0, ge=0, le=10, validation_alias=env("RAGD_BM25_TITLE_WEIGHT")
    )
    """Keyword search: a title word counts this many text words (every backend)."""
    hnsw_m: int = Field(16, ge=2, le=100, validation_alias=env("RAGD_HNSW_M"))
    hnsw_ef_construction: int = Field(
        64, ge=4, le=1000, validation_alias=env("RAGD_HNSW_EF_CONSTRUCTION")
    )
    hnsw_ef_search: int = Field(100, ge=1, le=1000, validation_alias=env("RAGD_HNSW_EF_SEARCH"))
    pg_exact_below: int = Field(10_000, ge=0, validation_alias=env("RAGD_PG_EXACT_BELOW"))
    pg_sparse_max_scored: int = Field(
        2_000, ge=1, validation_alias=env("RAGD_PG_SPARSE_MAX_SCORED")
    )
    pg_build_memory: str = Field(
        "1GB", pattern=r"^\d+\s*(kB|MB|GB)$", validation_alias=env("RAGD_PG_BUILD_MEMORY")
    )
    """pgvector HNSW: graph degree and build beam (applied when the index is (re)built),
    and the search beam (every query). Qdrant uses them for its per-tenant graphs."""

    # Qdrant (VECTOR_STORE_TYPE=qdrant; see ragd.adapters.index.qdrant)
    qdrant_url: str | None = Field(None, validation_alias=env("QDRANT_URL"))
    """A cluster's URL; unset: qdrant-client's local mode in ``<data dir>/qdrant``
    (one process only); ``:memory:`` keeps it in memory."""
    qdrant_api_key: SecretStr | None = Field(None, validation_alias=env("QDRANT_API_KEY"))
    collection_name: str = Field("ragd_chunks", validation_alias=env("COLLECTION_NAME"))
    """The alias searches use; points live in versioned collections ``<name>_v<n>``."""
    qdrant_timeout: float = Field(10.0, gt=0, validation_alias=env("QDRANT_TIMEOUT"))
    qdrant_max_retries: int = Field(3, ge=0, le=20, validation_alias=env("QDRANT_MAX_RETRIES"))
    qdrant_shard_number: int | None = Field(None, ge=1, validation_alias=env("QDRANT_SHARD_NUMBER"))
    qdrant_replication_factor: int | None = Field(
        None, ge=1, validation_alias=env("QDRANT_REPLICATION_FACTOR")
    )
    qdrant_write_consistency_factor: int | None = Field(
        None, ge=1, validation_alias=env("QDRANT_WRITE_CONSISTENCY_FACTOR")
    )
    """Applied when a collection is created (first start, ``ragd reindex``)."""
    qdrant_quantization: Literal["none", "int8", "binary"] = Field(
        "none", validation_alias=env("RAGD_QDRANT_QUANTIZATION")
    )
    qdrant_fusion: Literal["client", "server"] = Field(
        "client", validation_alias=env("RAGD_QDRANT_FUSION")
    )
    """Hybrid fusion: ragd's weighted RRF over both Query API results (the SQL indexes'
    ranking), or Qdrant's own RRF over a prefetch of both sides."""
    outbox_batch_size: int = Field(
        256, ge=1, le=10_000, validation_alias=env("RAGD_OUTBOX_BATCH_SIZE")
    )
    outbox_lease_seconds: float = Field(
        60.0, gt=0, validation_alias=env("RAGD_OUTBOX_LEASE_SECONDS")
    )
    outbox_sync_in_worker: bool = Field(True, validation_alias=env("RAGD_OUTBOX_SYNC_IN_WORKER"))
    index_maintain_seconds: float = Field(
        60.0, gt=0, validation_alias=env("RAGD_INDEX_MAINTAIN_SECONDS")
    )
    """Ingestion workers drain the outbox between batches; off when ``ragd sync`` runs as
    a deployment of its own."""

    @property
    def index(self) -> IndexSettings:
        return IndexSettings.of(self)
