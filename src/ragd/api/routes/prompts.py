"""``/api/v1/prompt-template``: the tenant's prompt template, its versions, a preview.

Tenant admins only. ``PUT`` saves a new version (the newest is in force; an empty body
goes back to ragd's default); ``POST .../rollback`` saves an old version's body again as
the newest; ``POST .../preview`` renders the exact messages a question would be sent with
(the saved template, or the one in the body, unsaved), without calling the model. The
citation rules are appended to whatever the template says, and every answer is checked
against its passages regardless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ragd.api.deps import ServicesDep, TenantAdmin, audit
from ragd.api.schemas import HitOut, Strict
from ragd.domain.prompts import (
    MAX_NOTE_CHARS,
    MAX_STYLE_WORD_CHARS,
    MAX_SYSTEM_PROMPT_CHARS,
    AnswerLength,
    CitationFormat,
    PromptStyle,
    TemplateVersion,
)
from ragd.errors import ConfigError
from ragd.ports.index import Mode
from ragd.services.container import Services
from ragd.services.prompt_templates import PromptTemplateService
from ragd.services.search import MAX_QUERY_CHARS

router = APIRouter(prefix="/api/v1/prompt-template", tags=["prompt templates"])


class TemplateIn(Strict):
    system_prompt: str | None = Field(None, max_length=MAX_SYSTEM_PROMPT_CHARS)
    answer_length: AnswerLength | None = None
    language: str | None = Field(None, max_length=MAX_STYLE_WORD_CHARS)
    tone: str | None = Field(None, max_length=MAX_STYLE_WORD_CHARS)
    citation_format: CitationFormat | None = None

    def style(self) -> PromptStyle:
        return PromptStyle(
            system_prompt=self.system_prompt,
            answer_length=self.answer_length,
            language=self.language,
            tone=self.tone,
            citation_format=self.citation_format,
        )


class SaveIn(TemplateIn):
    note: str = Field("", max_length=MAX_NOTE_CHARS)


class RollbackIn(Strict):
    version: int = Field(ge=1, le=2**31 - 1)  # a database integer


class PreviewIn(Strict):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    template: TemplateIn | None = Field(None, description="Unsaved; default: the saved one.")
    top_k: int | None = Field(None, ge=1, le=100)
    mode: Mode | None = None


class TemplateOut(BaseModel):
    version: int | None
    """None: never set (ragd's default prompt)."""
    system_prompt: str | None = None
    answer_length: AnswerLength | None = None
    language: str | None = None
    tone: str | None = None
    citation_format: CitationFormat | None = None
    created_by: str | None = None
    note: str = ""
    created_at: datetime | None = None

    @classmethod
    def of(cls, v: TemplateVersion | None) -> TemplateOut:
        if v is None:
            return cls(version=None)
        return cls(
            version=v.version,
            **v.style.to_dict(),
            created_by=v.created_by,
            note=v.note,
            created_at=v.created_at,
        )


class VersionsOut(BaseModel):
    versions: list[TemplateOut]


class MessageOut(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class PreviewOut(BaseModel):
    version: int | None
    messages: list[MessageOut]
    passages: list[HitOut]


def _templates(services: Services) -> PromptTemplateService:
    if services.prompt_templates is None:
        raise ConfigError("prompt templates are not configured in this process")
    return services.prompt_templates


@router.get("", response_model=TemplateOut, summary="The template in force")
def current(services: ServicesDep, principal: TenantAdmin) -> TemplateOut:
    return TemplateOut.of(_templates(services).current(principal.tenant_id))


@router.put("", response_model=TemplateOut, summary="Save a new version (in force at once)")
def save(
    body: SaveIn, request: Request, services: ServicesDep, principal: TenantAdmin
) -> TemplateOut:
    saved = _templates(services).save(
        principal.tenant_id, body.style(), by=principal.user_id, note=body.note
    )
    audit(request, services, principal, "prompt_template.save", str(saved.version))
    return TemplateOut.of(saved)


@router.get("/versions", response_model=VersionsOut, summary="Every version, newest first")
def versions(services: ServicesDep, principal: TenantAdmin) -> VersionsOut:
    return VersionsOut(
        versions=[TemplateOut.of(v) for v in _templates(services).versions(principal.tenant_id)]
    )


@router.post("/rollback", response_model=TemplateOut, summary="An old version, saved again")
def rollback(
    body: RollbackIn, request: Request, services: ServicesDep, principal: TenantAdmin
) -> TemplateOut:
    saved = _templates(services).rollback(principal.tenant_id, body.version, by=principal.user_id)
    audit(
        request,
        services,
        principal,
        "prompt_template.rollback",
        str(saved.version),
        detail={"to": body.version},
    )
    return TemplateOut.of(saved)


@router.post("/preview", response_model=PreviewOut, summary="The prompt a question would get")
async def preview(body: PreviewIn, services: ServicesDep, principal: TenantAdmin) -> PreviewOut:
    settings = services.settings.retrieval
    shown = await run_in_threadpool(
        _templates(services).preview,
        services.search,
        services.answers.prompts,
        principal.tenant_id,
        body.question,
        style=body.template.style() if body.template else None,
        k=body.top_k or settings.top_k,
        mode=body.mode,
        threshold=settings.similarity_threshold,
    )
    return PreviewOut(
        version=shown.version,
        messages=[MessageOut(role=m.role, content=m.content) for m in shown.plan.request.messages],
        passages=[HitOut.of(h) for h in shown.plan.passages],
    )
