"""Ingestion: chunk sizes, the upload and parsing limits (archives, PDFs, the parse
sandbox), job retries and the worker loop."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from ragd.config.section import Section, env


class IngestSettings(Section):
    """How documents are chunked and queued, and how workers claim and retry their jobs."""

    chunk_tokens: int
    chunk_overlap: int
    max_document_bytes: int
    archive_max_members: int
    archive_max_inflated_bytes: int
    archive_max_member_bytes: int
    archive_max_ratio: float
    pdf_max_pages: int
    pdf_max_stream_bytes: int
    job_max_attempts: int
    job_lease_seconds: float
    job_backoff_seconds: float
    worker_batch_size: int
    worker_poll_seconds: float
    worker_concurrency: int
    embedded_worker: bool | None
    embedded_worker_mode: str
    parse_sandbox: bool
    parse_memory_mb: int
    parse_timeout_seconds: float
    document_timeout_seconds: float
    detect_language: bool


class IngestFields(BaseModel):
    """The environment variables of ``IngestSettings``."""

    chunk_tokens: int = Field(256, ge=16, le=512, validation_alias=env("RAGD_CHUNK_TOKENS"))
    chunk_overlap: int = Field(32, ge=0, validation_alias=env("RAGD_CHUNK_OVERLAP"))
    max_document_bytes: int = Field(
        50 * 1024 * 1024, ge=1, validation_alias=env("RAGD_MAX_DOCUMENT_BYTES")
    )
    archive_max_members: int = Field(10_000, ge=1, validation_alias=env("RAGD_ARCHIVE_MAX_MEMBERS"))
    """Zip-based files (DOCX, ...) with more parts are refused before anything is inflated."""
    archive_max_inflated_bytes: int = Field(
        200 * 1024 * 1024, ge=1, validation_alias=env("RAGD_ARCHIVE_MAX_INFLATED_BYTES")
    )
    archive_max_member_bytes: int = Field(
        32 * 1024 * 1024, ge=1, validation_alias=env("RAGD_ARCHIVE_MAX_MEMBER_BYTES")
    )
    archive_max_ratio: float = Field(100.0, ge=1, validation_alias=env("RAGD_ARCHIVE_MAX_RATIO"))
    pdf_max_pages: int = Field(5_000, ge=1, validation_alias=env("RAGD_PDF_MAX_PAGES"))
    pdf_max_stream_bytes: int = Field(
        64 * 1024 * 1024, ge=1, validation_alias=env("RAGD_PDF_MAX_STREAM_BYTES")
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
    embedded_worker_mode: Literal["auto", "process", "thread"] = Field(
        "auto", validation_alias=env("RAGD_EMBEDDED_WORKER_MODE")
    )
    """How: a child process (``auto``: unless Qdrant's local mode, which admits one
    process), so the worker's CPU-bound Python never holds the API's GIL, or a thread."""
    parse_sandbox: bool = Field(True, validation_alias=env("RAGD_PARSE_SANDBOX"))
    """Parse each document in a child process under the two limits below (off: in the
    worker's own process, for debugging a parser)."""
    parse_memory_mb: int = Field(1024, ge=0, validation_alias=env("RAGD_PARSE_MEMORY_MB"))
    """Address space of a parser process; a document that needs more fails (0: no cap)."""
    parse_timeout_seconds: float = Field(
        120.0, gt=0, validation_alias=env("RAGD_PARSE_TIMEOUT_SECONDS")
    )
    document_timeout_seconds: float = Field(
        1800.0, ge=0, validation_alias=env("RAGD_INGEST_DOCUMENT_TIMEOUT_SECONDS")
    )
    """Model time one document may take to embed before it fails for good; 0: no limit."""
    detect_language: bool = Field(True, validation_alias=env("RAGD_DETECT_LANGUAGE"))
    """Record the language of a document whose format does not state it (``language``
    metadata); the model costs ~100 MB and ~1 s to load once per parser process."""

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
