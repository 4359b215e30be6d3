"""Ingestion: chunk sizes, the upload limit, job retries and the worker loop."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from ragd.config.section import Section, env


class IngestSettings(Section):
    """How documents are chunked and queued, and how workers claim and retry their jobs."""

    chunk_tokens: int
    chunk_overlap: int
    max_document_bytes: int
    job_max_attempts: int
    job_lease_seconds: float
    job_backoff_seconds: float
    worker_batch_size: int
    worker_poll_seconds: float
    worker_concurrency: int
    embedded_worker: bool | None
    document_timeout_seconds: float


class IngestFields(BaseModel):
    """The environment variables of ``IngestSettings``."""

    chunk_tokens: int = Field(256, ge=16, le=512, validation_alias=env("RAGD_CHUNK_TOKENS"))
    chunk_overlap: int = Field(32, ge=0, validation_alias=env("RAGD_CHUNK_OVERLAP"))
    max_document_bytes: int = Field(
        50 * 1024 * 1024, ge=1, validation_alias=env("RAGD_MAX_DOCUMENT_BYTES")
    )
    job_max_attempts: int = Field(3, ge=1, validation_alias=env("RAGD_JOB_MAX_ATTEMPTS"))
    job_lease_seconds: float = Field(60.0, gt=0, validation_alias=env("RAGD_JOB_LEASE_SECONDS"))
    job_backoff_seconds: float = Field(2.0, ge=0, validation_alias=env("RAGD_JOB_BACKOFF_SECONDS"))
    worker_batch_size: int = Field(
        32, ge=1, le=1000, validation_alias=env("RAGD_WORKER_BATCH_SIZE")
    )
    worker_poll_seconds: float = Field(0.5, gt=0, validation_alias=env("RAGD_WORKER_POLL_SECONDS"))
    worker_concurrency: int = Field(1, ge=1, le=64, validation_alias=env("RAGD_WORKER_CONCURRENCY"))
    embedded_worker: bool | None = Field(None, validation_alias=env("RAGD_EMBEDDED_WORKER"))
    """Run the ingestion worker inside ``ragd serve``; default: yes on SQLite."""
    document_timeout_seconds: float = Field(
        1800.0, ge=0, validation_alias=env("RAGD_INGEST_DOCUMENT_TIMEOUT_SECONDS")
    )
    """Model time one document may take to embed before it fails for good; 0: no limit."""

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: ValidationInfo) -> int:
        size = info.data.get("chunk_tokens", 256)
        if v >= size:
            raise ValueError(
                f"RAGD_CHUNK_OVERLAP ({v}) must be smaller than RAGD_CHUNK_TOKENS ({size})"
            )
        return v

    @property
    def ingest(self) -> IngestSettings:
        return IngestSettings.of(self)
