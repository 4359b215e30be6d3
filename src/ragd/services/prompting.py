"""The prompt: numbered passages, the rules, the question, the rules again.

Small local models forget instructions that come before a long context, so the citation
rule is repeated after the question. Passages go in rank order until the token budget
(the model's context minus the answer's ``max_tokens`` and the fixed text) is spent; the
passage that does not fit whole is cut, and the rest are left out, so a prompt never
overflows the model's context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragd.domain.models import Hit
from ragd.ports.llm import LLM, ChatMessage, GenerationRequest

SYSTEM = (
    "You answer questions using only the numbered passages you are given. "
    "After every sentence, cite the passage it comes from as [n], for example [1] or [2]. "
    "If the passages do not contain the answer, say that the documents do not contain it. "
    "Never use outside knowledge."
)
REMINDER = "Answer only from the passages above and cite each sentence with [n]."
MIN_PASSAGE_TOKENS = 40
HISTORY_SHARE = 0.25
"""At most this share of the budget goes to earlier turns of a conversation."""


@dataclass(frozen=True)
class PromptPlan:
    request: GenerationRequest
    passages: list[Hit]
    """The passages in the prompt, in citation order: ``[n]`` is ``passages[n - 1]``."""


class PromptBuilder:
    def __init__(self, llm: LLM, *, max_passages: int, max_tokens: int, temperature: float):
        self.llm = llm
        self.max_passages = max_passages
        self.max_tokens = max_tokens
        self.temperature = temperature

    def build(
        self, question: str, hits: Sequence[Hit], history: Sequence[ChatMessage] = ()
    ) -> PromptPlan:
        count = self.llm.count_tokens
        question_block = f"Question: {question}\n\n{REMINDER}"
        budget = (
            self.llm.context_window
            - self.max_tokens
            - count(SYSTEM)
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
        messages = [ChatMessage("system", SYSTEM), *turns, ChatMessage("user", user)]
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
