"""Prompt templates: how a tenant wants its answers written.

A template sets the instructions in front of the passages (``system_prompt``) and the
answer's style: length, language, tone and where citations go. It never sets the
citation rules themselves: those are appended by ``services.prompting`` whatever the
template says, and every answer is checked against its passages anyway
(``services.citations``). Templates are versioned: every change is a new version, the
newest is in force, and a rollback is a new version with an old body.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest

AnswerLength = Literal["short", "medium", "long"]
CitationFormat = Literal["sentence", "paragraph"]
TENANT_SCOPE = "tenant"
"""The one scope there is today; per-collection scopes (``collection:<name>``) later."""

MAX_SYSTEM_PROMPT_CHARS = 4000
MAX_STYLE_WORD_CHARS = 40
MAX_NOTE_CHARS = 500
_STYLE_WORD = re.compile(r"^[^\W\d_][\w ,'-]*$")


@dataclass(frozen=True)
class PromptStyle:
    """A template's body; a field left None keeps ragd's default."""

    system_prompt: str | None = None
    answer_length: AnswerLength | None = None
    language: str | None = None
    tone: str | None = None
    citation_format: CitationFormat | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptStyle:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return check_style(cls(**known))

    @property
    def is_default(self) -> bool:
        return not self.to_dict()


@dataclass(frozen=True)
class TemplateVersion:
    tenant_id: TenantId
    scope: str
    version: int
    style: PromptStyle
    created_by: str | None
    note: str
    created_at: datetime


def check_style(style: PromptStyle) -> PromptStyle:
    """The style, or ``InvalidRequest`` saying which field is wrong and why."""
    if style.system_prompt is not None:
        text = style.system_prompt.strip()
        if not text:
            raise InvalidRequest("system_prompt is empty (leave it out for ragd's default)")
        if len(text) > MAX_SYSTEM_PROMPT_CHARS:
            raise InvalidRequest(f"system_prompt is over {MAX_SYSTEM_PROMPT_CHARS} characters")
        if "\x00" in text:
            raise InvalidRequest("system_prompt contains a NUL character")
    if style.answer_length not in (None, "short", "medium", "long"):
        raise InvalidRequest("answer_length is one of short, medium, long")
    if style.citation_format not in (None, "sentence", "paragraph"):
        raise InvalidRequest("citation_format is one of sentence, paragraph")
    for name in ("language", "tone"):
        value = getattr(style, name)
        if value is None:
            continue
        if len(value) > MAX_STYLE_WORD_CHARS or not _STYLE_WORD.match(value):
            raise InvalidRequest(
                f"{name} is a few words (letters, spaces, commas, hyphens; at most "
                f"{MAX_STYLE_WORD_CHARS} characters), e.g. 'French' or 'friendly'"
            )
    return style
