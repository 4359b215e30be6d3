"""The nouns of ragd as frozen dataclasses shared by every layer.

Ports take and return these, never backend rows, so an adapter can be swapped without any
service noticing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

import numpy as np
import numpy.typing as npt


def utcnow() -> datetime:
    """Every timestamp ragd writes is timezone-aware UTC."""
    return datetime.now(UTC)


TenantId = NewType("TenantId", str)
DEFAULT_TENANT = TenantId("default")

JsonScalar = str | int | float | bool | None
Vector = npt.NDArray[np.float32]
"""One embedding: a 1-d float32 array (L2-normalised by every Embedder)."""


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    INDEXED = "indexed"
    FAILED = "failed"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # dead letter: attempts exhausted or a permanent error


@dataclass(frozen=True)
class Section:
    """A run of text from a parsed document with the structure it came from.

    A table is a section whose ``table_header`` is not None: its ``text`` is one table row
    per line, and the chunker keeps each row whole and puts ``table_header`` (the header
    row, or "" when every row already names its columns) in front of every chunk of rows
    (``domain.tables``), so a chunk holding part of a table can be read alone.
    """

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    table_header: str | None = None
    metadata: dict[str, JsonScalar] = field(default_factory=dict)
    """What the parser knows about this run of text alone (``ocr_confidence``), carried
    to every chunk cut from it."""


@dataclass(frozen=True)
class Attachment:
    """A file carried inside another (an e-mail's attachment): ingested as a document of
    its own, linked to the one that carried it."""

    name: str
    data: bytes
    media_type: str | None = None


@dataclass(frozen=True)
class DocumentImage:
    """An image found inside a document, shrunk to a preview: what a vision model is shown
    and what the thumbnail route serves. Its sections name it by ``key`` in their
    metadata (``"image"``)."""

    key: str
    data: bytes
    media_type: str = "image/png"


@dataclass(frozen=True)
class ParsedDocument:
    """What a Parser makes of one document's bytes."""

    sections: list[Section]
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the content says about itself (author, dates, language...): merged under the
    uploader's own metadata when the document is indexed."""
    attachments: list[Attachment] = field(default_factory=list)
    images: list[DocumentImage] = field(default_factory=list)
    """Previews of the images its image sections were read from (``kind: "image"``)."""

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class SourceRecord:
    """One document cut out of a multi-record file (JSONL/BEIR corpus, JSON array)."""

    key: str
    title: str | None
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it has an id: produced by the chunker, keyed by ordinal."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    token_count: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    metadata: dict[str, JsonScalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    id: str
    document_id: str
    tenant_id: TenantId
    ordinal: int
    text: str
    char_start: int
    char_end: int
    token_count: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    metadata: dict[str, JsonScalar] = field(default_factory=dict)
    """The chunk's own metadata (from its section: ``ocr_engine``, ``ocr_confidence``),
    distinct from its document's."""


@dataclass(frozen=True)
class Document:
    id: str
    tenant_id: TenantId
    source: str
    title: str
    media_type: str
    content_hash: str
    size_bytes: int
    metadata: dict[str, Any]
    status: DocumentStatus
    error: str | None
    version: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime
    collection_id: str = "default"
    """The collection it belongs to (``ragd.domain.access``)."""
    readers: tuple[str, ...] = ()
    """Its allow-list of principals; empty: everyone who may read the collection."""


@dataclass(frozen=True)
class IngestJob:
    id: str
    tenant_id: TenantId
    document_id: str
    state: JobState
    attempts: int
    last_error: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    run_after: datetime
    created_at: datetime


@dataclass(frozen=True)
class IndexEntry:
    """What an Index stores for one chunk: enough to search and filter, nothing more."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    text: str
    vector: Vector
    metadata: dict[str, Any] = field(default_factory=dict)
    collection_id: str = "default"
    readers: tuple[str, ...] = ()
    """The document's collection and allow-list: every Index filters on them inside its
    query (``SearchFilters.access``)."""


@dataclass(frozen=True)
class ScoredChunk:
    """An Index's answer: a chunk id and its score under the mode that found it."""

    chunk_id: str
    score: float
    dense_rank: int | None = None
    sparse_rank: int | None = None
    similarity: float | None = None
    """Cosine similarity to the query vector when the dense half saw the chunk; the
    answer service compares it with ``SIMILARITY_THRESHOLD``."""


@dataclass(frozen=True)
class Hit:
    """A search result, hydrated from the Store for the caller."""

    chunk_id: str
    document_id: str
    title: str
    source: str
    text: str
    score: float
    page: int | None
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    metadata: dict[str, Any]
    similarity: float | None = None
    chunk_metadata: dict[str, Any] = field(default_factory=dict)
    """The chunk's own metadata (``Chunk.metadata``); ``metadata`` is its document's."""


@dataclass(frozen=True)
class EmbeddingSpec:
    """Identity of an embedding space; an index only accepts vectors of its own spec."""

    model: str
    dimension: int


@dataclass(frozen=True)
class Usage:
    """Tokens one model call consumed, as the provider reported them (or estimated)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class NewDocument:
    """A document as submitted, before the Store gives it an id and a status."""

    source: str
    title: str
    media_type: str
    content_hash: str
    size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)
    collection_id: str = "default"
    readers: tuple[str, ...] = ()
