"""Wire shapes of the HTTP contract (docs/architecture.md#http-contract). Names are fixed;
fields may be added.

Request models forbid unknown fields, so a typo ("topk") is a 422 rather than a silently
ignored parameter. The OpenAI-compatible models allow them, because OpenAI clients send
many optional fields ragd has no use for.

A document's title, source and metadata follow ``ragd.domain.metadata``, the same rules as
the multipart upload's (``routes/documents.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ragd.domain import metadata as rules
from ragd.domain.answer import Answer, Citation
from ragd.domain.models import Document, DocumentStatus, Hit
from ragd.errors import InvalidRequest
from ragd.services.search import MAX_QUERY_CHARS

Mode = Literal["hybrid", "dense", "sparse", "graph", "hybrid+graph"]
MetadataValue = str | int | float | bool | None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filters(Strict):
    document_id: str | None = None
    document_ids: list[str] | None = Field(None, max_length=1000)
    source: str | None = None
    sources: list[str] | None = Field(None, max_length=1000)
    metadata: dict[str, MetadataValue] | None = None


def _rule(check: Any) -> Any:
    """A domain check as a pydantic validator: its ``InvalidRequest`` becomes a 422 entry."""

    def validate(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except InvalidRequest as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(validate)


class TextDocumentIn(Strict):
    text: str = Field(min_length=1, description="The document's text (UTF-8).")
    title: Annotated[str | None, _rule(rules.check_title)] = Field(
        None, max_length=rules.MAX_TITLE_CHARS
    )
    source: Annotated[str | None, _rule(rules.check_source)] = Field(
        None,
        max_length=rules.MAX_SOURCE_CHARS,
        description="Stable name; re-posting the same source replaces it.",
    )
    metadata: Annotated[dict[str, Any], _rule(rules.check_metadata)] = Field(
        default_factory=dict,
        description=(
            f"JSON object: at most {rules.MAX_METADATA_DEPTH} levels deep, "
            f"{rules.MAX_METADATA_KEYS} keys and {rules.MAX_METADATA_BYTES} bytes; "
            "finite numbers only"
        ),
    )
    collection: str | None = Field(
        None, max_length=64, description="The collection it goes to (default: default)."
    )
    readers: list[str] | None = Field(
        None,
        max_length=200,
        description="Allow-list of principals (u:<user id>, g:<group id>); none: everyone "
        "who may read the collection.",
    )


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    media_type: str
    status: DocumentStatus
    error: str | None
    chunks: int
    size_bytes: int
    version: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    collection: str = "default"
    readers: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, d: Document) -> DocumentOut:
        return cls(
            id=d.id,
            title=d.title,
            source=d.source,
            media_type=d.media_type,
            status=d.status,
            error=d.error,
            chunks=d.chunk_count,
            size_bytes=d.size_bytes,
            version=d.version,
            metadata=d.metadata,
            created_at=d.created_at,
            updated_at=d.updated_at,
            collection=d.collection_id,
            readers=list(d.readers),
        )


class PlacementIn(Strict):
    collection: str | None = Field(None, max_length=64, description="Move it here.")
    readers: list[str] | None = Field(
        None, max_length=200, description="Its new allow-list ([]: none)."
    )


class SubmittedOut(DocumentOut):
    outcome: Literal["queued", "replaced", "unchanged", "failed"]


class DocumentListOut(BaseModel):
    documents: list[DocumentOut]
    total: int
    limit: int
    offset: int


class SearchIn(Strict):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int | None = Field(
        None, ge=1, description="Default TOP_K_RETRIEVAL; at most MAX_RETRIEVAL_RESULTS."
    )
    mode: Mode | None = Field(None, description="Default DEFAULT_RETRIEVAL_STRATEGY.")
    filters: Filters | None = None
    collection: str | list[str] | None = Field(
        None,
        description="Search only these collections (each must be readable); default every "
        "collection the caller may read. Also as the X-Ragd-Collection header.",
    )


class HitOut(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    source: str
    text: str
    score: float
    page: int | None
    heading_path: list[str]
    char_start: int
    char_end: int
    metadata: dict[str, Any]
    similarity: float | None = None
    chunk_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="The chunk's own metadata (``metadata`` is its document's): "
        "ocr_engine and ocr_confidence (0-1) for text read by OCR.",
    )

    @classmethod
    def of(cls, h: Hit) -> HitOut:
        return cls(
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            title=h.title,
            source=h.source,
            text=h.text,
            score=h.score,
            page=h.page,
            heading_path=list(h.heading_path),
            char_start=h.char_start,
            char_end=h.char_end,
            metadata=h.metadata,
            similarity=h.similarity,
            chunk_metadata=h.chunk_metadata,
        )


class RelationOut(BaseModel):
    """A relation of the knowledge graph that a graph mode walked, with the returned hits
    that state it (what to cite for it)."""

    source: str
    kind: str
    target: str
    chunk_ids: list[str]
    hops: int


class SearchOut(BaseModel):
    hits: list[HitOut]
    mode: Mode
    timings: dict[str, float]
    relations: list[RelationOut] = Field(
        default_factory=list, description="Graph modes: the relations walked (else empty)."
    )


class Turn(Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class QueryIn(SearchIn):
    stream: bool = False
    history: list[Turn] = Field(default_factory=list, max_length=50)
    conversation_id: str | None = Field(
        None,
        max_length=64,
        description="Ask in this stored conversation (yours): its turns are the history, "
        "and the answer is appended to it.",
    )


class CitationOut(BaseModel):
    n: int
    document_id: str
    chunk_id: str
    title: str
    page: int | None
    quote: str
    quote_start: int
    quote_end: int
    supported: bool
    support: float
    sentence: str

    @classmethod
    def of(cls, c: Citation) -> CitationOut:
        return cls(**c.__dict__)


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class QueryOut(BaseModel):
    answer: str
    grounded: bool
    citations: list[CitationOut]
    passages: list[HitOut]
    model: str
    cached: bool
    timings: dict[str, float]
    usage: UsageOut
    answer_id: str | None = Field(
        None, description="Names the answer for feedback (POST /api/v1/answers/{id}/feedback)."
    )
    search_query: str | None = Field(
        None, description="The stand-alone question retrieval used (differs for follow-ups)."
    )
    conversation_id: str | None = None

    @classmethod
    def of(cls, a: Answer) -> QueryOut:
        return cls(
            answer_id=a.id,
            search_query=a.search_query,
            conversation_id=a.conversation_id,
            answer=a.text,
            grounded=a.grounded,
            citations=[CitationOut.of(c) for c in a.citations],
            passages=[HitOut.of(h) for h in a.passages],
            model=a.model,
            cached=a.cached,
            timings=a.timings,
            usage=UsageOut(
                prompt_tokens=a.usage.prompt_tokens,
                completion_tokens=a.usage.completion_tokens,
                total_tokens=a.usage.total_tokens,
            ),
        )
