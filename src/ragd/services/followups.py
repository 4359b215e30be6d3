"""History-aware retrieval: the stand-alone question a follow-up is searched with.

"And what about children?" means nothing to a search index. With a model configured
(``LLM_PROVIDER`` other than extractive) the conversation is condensed into a stand-alone
question by one short LLM call (``max_tokens`` 96, temperature 0), cached per tenant and
question, its tokens reported back so the query service prices and records them like the
answer's. Without a model, or when the call fails or says nothing usable, the model-free
rewrite of ``domain.followup`` is used: the last named entity replaces the pronoun and
the salient terms of the previous questions are carried into the query.

The original question still goes to the prompt (with the history); only retrieval uses
the stand-alone one, and it is returned with the answer so users see what was searched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragd.domain.followup import standalone_question
from ragd.domain.models import TenantId, Usage
from ragd.errors import RagdError
from ragd.ports.cache import Cache
from ragd.ports.llm import LLM, ChatMessage, GenerationRequest
from ragd.services.search import MAX_QUERY_CHARS

log = logging.getLogger("ragd.followups")

EXTRACTIVE = "ragd-extractive"
CONDENSE_MAX_TOKENS = 96
HISTORY_TURNS = 6
"""Earlier messages the condensing prompt sees (the newest ones)."""
MAX_MESSAGE_CHARS = 1000
CONDENSE_SYSTEM = (
    "Rewrite the user's last question as one stand-alone question that can be understood "
    "without the conversation: replace pronouns and vague references with the names they "
    "stand for, keep every specific term, add nothing else. Reply with the question only."
)


@dataclass(frozen=True)
class Rewrite:
    """The stand-alone question and what producing it cost (zero without a model call)."""

    query: str
    method: str
    """``none`` (no history), ``terms`` (model-free), ``llm`` or ``cached``."""
    model: str | None = None
    usage: Usage = field(default_factory=Usage)


class FollowUpRewriter:
    def __init__(self, llm: LLM | None = None, cache: Cache | None = None) -> None:
        """``llm`` None (the extractive default) rewrites without a model."""
        self.llm = llm
        self.cache = cache

    def rewrite(self, tenant: TenantId, question: str, history: Sequence[ChatMessage]) -> Rewrite:
        earlier = [m.content for m in history if m.role == "user" and m.content.strip()]
        if not earlier:
            return Rewrite(question, "none")
        if self.llm is not None:
            condensed = self._condense(tenant, question, history)
            if condensed is not None:
                return condensed
        return Rewrite(standalone_question(question, earlier)[:MAX_QUERY_CHARS], "terms")

    def _condense(
        self, tenant: TenantId, question: str, history: Sequence[ChatMessage]
    ) -> Rewrite | None:
        assert self.llm is not None
        turns = [m for m in history if m.role in ("user", "assistant")][-HISTORY_TURNS:]
        key = (
            "condense:"
            + hashlib.sha256(
                json.dumps(
                    [self.llm.model, question, [(m.role, m.content) for m in turns]]
                ).encode()
            ).hexdigest()
        )
        if self.cache is not None:
            hit = self.cache.get(tenant, key)
            if hit is not None and isinstance(hit.get("query"), str):
                return Rewrite(hit["query"], "cached", self.llm.model)
        transcript = "\n".join(
            f"{'User' if m.role == 'user' else 'Assistant'}: {m.content[:MAX_MESSAGE_CHARS]}"
            for m in turns
        )
        request = GenerationRequest(
            messages=[
                ChatMessage("system", CONDENSE_SYSTEM),
                ChatMessage(
                    "user",
                    f"Conversation:\n{transcript}\n\nLast question: {question}\n\n"
                    "Stand-alone question:",
                ),
            ],
            question=question,
            passages=(),
            max_tokens=CONDENSE_MAX_TOKENS,
            temperature=0.0,
        )
        try:
            completion = self.llm.complete(request)
        except RagdError as exc:
            log.warning("condensing the follow-up failed, rewriting without a model: %s", exc.code)
            return None
        if completion.model == EXTRACTIVE:  # the fallback chain ended at the no-model answerer
            return None
        query = _one_line(completion.text)
        if not query:
            return None
        if self.cache is not None:
            self.cache.set(tenant, key, {"query": query})
        return Rewrite(query, "llm", completion.model, completion.usage)


def _one_line(text: str) -> str:
    """The model's reply as one question: first non-empty line, quotes and labels off."""
    for line in text.strip().splitlines():
        line = line.strip().strip('"').strip()
        for label in ("Stand-alone question:", "Question:"):
            if line.lower().startswith(label.lower()):
                line = line[len(label) :].strip()
        if line:
            return line[:MAX_QUERY_CHARS]
    return ""
