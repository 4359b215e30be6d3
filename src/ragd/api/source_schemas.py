"""Wire shapes of ``/api/v1/sources``. A source's secret goes in (``secret``) and never
comes out: responses say ``has_secret`` only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ragd.domain.sources import RunOutcome, Source, SourceKind

SecretIn = Annotated[
    dict[Annotated[str, Field(max_length=100)], Annotated[str, Field(max_length=8192)]],
    Field(max_length=20),
]


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["handbook"])
    kind: SourceKind
    config: dict[str, Any] = Field(
        description="s3: bucket, prefix, endpoint_url, region, addressing_style, max_items; "
        "web: start_urls, sitemap_url, max_pages, max_depth, same_site; folder: path, max_items",
        examples=[{"start_urls": ["https://docs.example.com/"], "max_pages": 500}],
    )
    secret: SecretIn | None = Field(
        None,
        description="s3: access_key_id, secret_access_key, session_token; web: request "
        "headers (e.g. Authorization). Stored encrypted, never returned.",
    )
    interval_seconds: int | None = Field(None, ge=1, le=31 * 24 * 3600)
    enabled: bool = True


class SourceUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = Field(None, description="Merged over the saved settings")
    secret: SecretIn | None = None
    clear_secret: bool = False
    interval_seconds: int | None = Field(None, ge=1, le=31 * 24 * 3600)
    enabled: bool | None = None


class FailureOut(BaseModel):
    key: str
    reason: str


class SourceStatusOut(BaseModel):
    running: bool
    runs: int
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: RunOutcome | None
    last_error: str | None
    seen: int
    added: int
    changed: int
    unchanged: int
    deleted: int
    failed: int
    failures: list[FailureOut]
    notes: list[str]
    next_run_at: datetime | None
    items: int

    @classmethod
    def of(cls, s: Source) -> SourceStatusOut:
        c = s.last_counts
        return cls(
            running=s.running,
            runs=s.run_number,
            last_started_at=s.last_started_at,
            last_finished_at=s.last_finished_at,
            last_outcome=s.last_outcome,
            last_error=s.last_error,
            seen=c.seen,
            added=c.added,
            changed=c.changed,
            unchanged=c.unchanged,
            deleted=c.deleted,
            failed=c.failed,
            failures=[FailureOut(key=k, reason=r) for k, r in c.failures],
            notes=list(c.notes),
            next_run_at=s.next_run_at if s.enabled else None,
            items=s.item_count,
        )


class SourceOut(BaseModel):
    id: str
    name: str
    kind: SourceKind
    config: dict[str, Any]
    has_secret: bool
    interval_seconds: int
    enabled: bool
    created_at: datetime
    updated_at: datetime
    status: SourceStatusOut

    @classmethod
    def of(cls, s: Source) -> SourceOut:
        return cls(
            id=s.id,
            name=s.name,
            kind=s.kind,
            config=s.config,
            has_secret=s.has_secret,
            interval_seconds=s.interval_seconds,
            enabled=s.enabled,
            created_at=s.created_at,
            updated_at=s.updated_at,
            status=SourceStatusOut.of(s),
        )


class SourceListOut(BaseModel):
    sources: list[SourceOut]
