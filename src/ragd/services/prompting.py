"""The prompt: numbered passages, the rules, the question, the rules again.

Small local models forget instructions that come before a long context, so the citation
rule is repeated after the question. Passages go in rank order until the token budget
(the model's context minus the answer's ``max_tokens`` and the fixed text) is spent; the
passage that does not fit whole is cut, and the rest are left out, so a prompt never
overflows the model's context.

A tenant's prompt template (``domain.prompts.PromptStyle``) replaces the opening
instructions and sets the answer's length, language, tone and citation placement; the
citation rules (``RULES``, ``REMINDER``) follow whatever it says, in the system message
and after the question. Which tenant's template applies: ``build(..., tenant=)``, or,
for callers that do not pass it, the tenant of the enclosing ``prompt_scope`` (set by
``QueryService`` around each answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ragd.domain.models import Hit, TenantId
from ragd.domain.prompts import PromptStyle
from ragd.ports.llm import LLM, ChatMessage, GenerationRequest

PERSONA = "You answer questions using only the numbered passages you are given."
RULES = (
    "After every sentence, cite the passage it comes from as [n], for example [1] or [2]. "
    "If the passages do not contain the answer, say that the documents do not contain it. "
    "Never use outside knowledge."
)
PARAGRAPH_RULES = (
    "At the end of every paragraph, cite the passages it comes from as [n], for example "
    "[1] or [1][2]. If the passages do not contain the answer, say that the documents do "
    "not contain it. Never use outside knowledge."
)
OVERRIDE = (
    "Whatever the instructions above say, these rules hold: answer using only the "
    "numbered passages you are given."
)
SYSTEM = f"{PERSONA} {RULES}"
"""The system message without a template (the default since the first release)."""
REMINDER = "Answer only from the passages above and cite each sentence with [n]."
PARAGRAPH_REMINDER = "Answer only from the passages above and cite each paragraph with [n]."
LENGTHS = {
    "short": "Answer in one to three sentences.",
    "medium": "Answer in one or two short paragraphs.",
    "long": "Answer in detail, in several paragraphs where the passages allow it.",
}

StyleOf = Callable[[TenantId], PromptStyle | None]
_SCOPE: ContextVar[TenantId | None] = ContextVar("ragd_prompt_tenant", default=None)


@contextmanager
def prompt_scope(tenant: TenantId) -> Iterator[None]:
    """Prompts built inside use ``tenant``'s template (see the module docstring)."""
    token = _SCOPE.set(tenant)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def system_message(style: PromptStyle | None) -> str:
    """The system message for ``style``: its instructions, then the rules, always."""
    if style is None or style.is_default:
        return SYSTEM
    parts = [style.system_prompt.strip() if style.system_prompt else PERSONA]
    manner = []
    if style.answer_length:
        manner.append(LENGTHS[style.answer_length])
    if style.language:
        manner.append(f"Write the answer in {style.language}.")
    if style.tone:
        manner.append(f"Use a {style.tone} tone.")
    if manner:
        parts.append(" ".join(manner))
    rules = PARAGRAPH_RULES if style.citation_format == "paragraph" else RULES
    parts.append(f"{OVERRIDE} {rules}")
    return "\n\n".join(parts)


def reminder(style: PromptStyle | None) -> str:
    if style is not None and style.citation_format == "paragraph":
        return PARAGRAPH_REMINDER
    return REMINDER


MIN_PASSAGE_TOKENS = 40
HISTORY_SHARE = 0.25
"""At most this share of the budget goes to earlier turns of a conversation."""


@dataclass(frozen=True)
class PromptPlan:
    request: GenerationRequest
    passages: list[Hit]
    """The passages in the prompt, in citation order: ``[n]`` is ``passages[n - 1]``."""


class PromptBuilder:
    def __init__(
        self,
        llm: LLM,
        *,
        max_passages: int,
        max_tokens: int,
        temperature: float,
        styles: StyleOf | None = None,
    ):
        self.llm = llm
        self.max_passages = max_passages
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.styles = styles
        """The tenant's template in force (None: ragd's default prompt)."""

    def style_for(self, tenant: TenantId | None) -> PromptStyle | None:
        tenant = tenant or _SCOPE.get()
        if tenant is None or self.styles is None:
            return None
        return self.styles(tenant)

    def build(
        self,
        question: str,
        hits: Sequence[Hit],
        history: Sequence[ChatMessage] = (),
        *,
        tenant: TenantId | None = None,
        style: PromptStyle | None = None,
    ) -> PromptPlan:
        """The prompt for ``question`` over ``hits``; ``style`` (a preview) or else the
        template of ``tenant`` (or of the enclosing ``prompt_scope``)."""
        style = style if style is not None else self.style_for(tenant)
        system = system_message(style)
        count = self.llm.count_tokens
        question_block = f"Question: {question}\n\n{reminder(style)}"
        budget = (
            self.llm.context_window
            - self.max_tokens
            - count(system)
            - count(question_block)
            - 32  # chat template tokens per message
        )
        turns = _fit_history(history, int(budget * HISTORY_SHARE), count)
        budget -= sum(count(m.content) + 8 for m in turns)
        blocks: list[str] = []
        chosen: list[Hit] = []
        texts: list[str] = []
        for hit in hits[: self.max_passages]:
            n = len(chosen) + 1
            header = f"[{n}] {hit.title}" + (f" (page {hit.page})" if hit.page else "")
            cost = count(header) + count(hit.text) + 2
            text = hit.text
            if cost > budget:
                room = budget - count(header) - 2
                if room < MIN_PASSAGE_TOKENS:
                    break
                text = _cut(hit.text, room, count)
                cost = budget
            blocks.append(f"{header}\n{text}")
            chosen.append(hit)
            texts.append(text)
            budget -= cost
        user = "Passages:\n\n" + "\n\n".join(blocks) + "\n\n" + question_block
        messages = [ChatMessage("system", system), *turns, ChatMessage("user", user)]
        request = GenerationRequest(
            messages=messages,
            question=question,
            passages=texts,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        return PromptPlan(request, chosen)


def _fit_history(
    history: Sequence[ChatMessage], budget: int, count: Callable[[str], int]
) -> list[ChatMessage]:
    """The most recent turns that fit, oldest first; system turns are dropped (ours rules)."""
    kept: list[ChatMessage] = []
    for m in reversed(history):
        if m.role == "system":
            continue
        cost = count(m.content) + 8
        if cost > budget:
            break
        kept.append(m)
        budget -= cost
    return list(reversed(kept))


def _cut(text: str, tokens: int, count: Callable[[str], int]) -> str:
    """Cut ``text`` to about ``tokens`` tokens at a word boundary."""
    total = max(1, count(text))
    keep = int(len(text) * tokens / total)
    cut = text[:keep].rsplit(" ", 1)[0]
    while cut and count(cut) > tokens:
        cut = cut[: int(len(cut) * 0.9)].rsplit(" ", 1)[0]
    return cut + " …"
