"""The query use case: what happens to every question, whoever asks it and however.

HTTP (``/api/v1/search``, ``/api/v1/query``, ``/v1/chat/completions``) and the CLI
(``ragd search``, ``ragd ask``) all go through ``QueryService``, so a question is
accounted the same way everywhere:

1. quota: a tenant whose monthly LLM tokens are used up is refused before any retrieval
   (answers only: a search never calls the LLM);
2. query log: the question is kept (personal data: anonymisable, erasable);
3. history: a question asked in a stored conversation (``conversation_id``) gets its
   earlier turns as history (its owner only), and a question with history is searched
   with a stand-alone rewrite of it (``FollowUpRewriter``);
4. retrieve and answer, whole or streamed (``AnswerService``), then keep the answered
   question (``ConversationService.record``: its id is the answer id feedback names);
5. usage and cost: tokens the LLM reported (the answer's and the condensing call's) are stored
   per tenant and user, priced, counted
   in ``genai_cost_total_dollars`` and logged as a ``cost_event``;
6. metrics: queries by outcome, latency, tokens, citations by verification outcome.

Callers translate their input into a ``QueryRequest`` and the result into their output;
nothing here knows about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

from ragd.domain.access import Access
from ragd.domain.answer import Answer
from ragd.domain.filters import SearchFilters
from ragd.domain.models import TenantId, Usage
from ragd.domain.pricing import PriceTable
from ragd.errors import NotFound
from ragd.observability import metrics
from ragd.observability.logging import get_logger
from ragd.ports.audit import Audit
from ragd.ports.index import Mode
from ragd.ports.llm import ChatMessage
from ragd.services.answer import AnswerEvent, AnswerService, Finished
from ragd.services.conversations import ConversationService
from ragd.services.followups import FollowUpRewriter, Rewrite
from ragd.services.prompting import prompt_scope
from ragd.services.quotas import QuotaService
from ragd.services.search import SearchResult, SearchService

costs = get_logger("ragd.cost")

QueryKind = Literal["search", "query", "chat"]
"""How the question came in, as kept in the query log: a passage search, a question to
answer, or an OpenAI-compatible chat turn."""


@dataclass(frozen=True)
class QueryRequest:
    """One question, who asked it, and how to retrieve for it.

    ``k`` and ``mode`` left as None take the configured defaults (``TOP_K_RETRIEVAL``,
    ``DEFAULT_RETRIEVAL_STRATEGY``). ``user_id`` and ``request_id`` are None when there
    is no authenticated user or HTTP request (the CLI).
    """

    tenant: TenantId
    question: str
    kind: QueryKind = "query"
    user_id: str | None = None
    request_id: str | None = None
    mode: Mode | None = None
    k: int | None = None
    filters: SearchFilters | None = None
    history: tuple[ChatMessage, ...] = ()
    conversation_id: str | None = None
    """A stored conversation to ask in: its turns become history and the answer is
    appended to it."""
    access: Access | None = None
    """The caller's rights (None: the whole tenant, as the CLI). Their index filter is
    already in ``filters``; the answer cache keys on the filters, so on it too."""


class QueryService:
    def __init__(
        self,
        search: SearchService,
        answers: AnswerService,
        audit: Audit,
        quotas: QuotaService,
        prices: PriceTable,
        *,
        default_k: int,
        conversations: ConversationService | None = None,
        followups: FollowUpRewriter | None = None,
    ) -> None:
        self._search = search
        self.conversations = conversations
        self.followups = followups
        self._answers = answers
        self.audit = audit
        self.quotas = quotas
        self.prices = prices
        self.default_k = default_k

    def search(self, request: QueryRequest) -> SearchResult:
        """Ranked passages for the question (logged; no quota: the LLM is not called)."""
        self._log(request)
        return self._search.search(
            request.tenant,
            request.question,
            mode=request.mode,
            k=self.default_k if request.k is None else request.k,
            filters=request.filters,
        )

    def answer(self, request: QueryRequest) -> Answer:
        """The checked answer, accounted. Raises ``QuotaExceeded`` before retrieving when
        the tenant's token quota is used up."""
        self._admit(request)
        started = time.perf_counter()
        history, rewrite = self._context(request)
        try:
            with prompt_scope(request.tenant):  # the tenant's prompt template
                answer = self._answers.answer(
                    request.tenant,
                    request.question,
                    mode=request.mode,
                    k=request.k,
                    filters=request.filters,
                    history=history,
                    search_query=rewrite.query,
                )
        except Exception:
            metrics.QUERIES.labels("error").inc()
            raise
        self._keep(request, answer, rewrite)
        self._account(request, answer, time.perf_counter() - started)
        return answer

    def stream(self, request: QueryRequest) -> Generator[AnswerEvent, None, None]:
        """The answer's events (``Token``s, then ``Finished``), accounted when it finishes.

        Nothing runs until the first ``next()``, which checks the quota, logs the question
        and retrieves: everything that can refuse the question raises there, so a caller
        that takes the first event before it answers (the SSE routes) still fails with a
        proper status. Closing the iterator stops generation.
        """
        self._admit(request)
        started = time.perf_counter()
        history, rewrite = self._context(request)
        events = self._answers.stream(
            request.tenant,
            request.question,
            mode=request.mode,
            k=request.k,
            filters=request.filters,
            history=history,
            search_query=rewrite.query,
        )
        try:
            while True:
                try:
                    with prompt_scope(request.tenant):  # each step: threads differ
                        event = next(events, None)
                except Exception:
                    metrics.QUERIES.labels("error").inc()
                    raise
                if event is None:
                    return
                if isinstance(event, Finished):
                    self._keep(request, event.answer, rewrite)
                    self._account(request, event.answer, time.perf_counter() - started)
                yield event
        finally:
            events.close()

    def _admit(self, request: QueryRequest) -> None:
        self.quotas.check_tokens(request.tenant)
        self._log(request)

    def _log(self, request: QueryRequest) -> None:
        self.audit.record_query(
            request.tenant,
            user_id=request.user_id,
            request_id=request.request_id,
            kind=request.kind,
            text=request.question,
            access=None if request.access is None else request.access.fingerprint(),
        )

    def _context(self, request: QueryRequest) -> tuple[tuple[ChatMessage, ...], Rewrite]:
        """The history the question is answered with (a stored conversation's turns, then
        any the caller sent) and the stand-alone question it is searched with; the
        condensing call, if any, is charged here. Raises ``NotFound``/``Forbidden`` for a
        conversation the caller may not ask in, before anything is retrieved."""
        history = request.history
        if request.conversation_id is not None:
            if self.conversations is None:
                raise NotFound("conversations are not stored by this service")
            stored = self.conversations.history(
                request.tenant, request.user_id, request.conversation_id
            )
            history = (*stored, *history)
        if self.followups is None or not history:
            return history, Rewrite(request.question, "none")
        rewrite = self.followups.rewrite(request.tenant, request.question, history)
        if rewrite.model and rewrite.usage.total_tokens:
            self._charge(request, rewrite.model, rewrite.usage)
        return history, rewrite

    def _keep(self, request: QueryRequest, answer: Answer, rewrite: Rewrite) -> None:
        """Store the answered question; the answer learns its id and what was searched."""
        answer.search_query = rewrite.query
        answer.conversation_id = request.conversation_id
        if self.conversations is None:
            return
        turn = self.conversations.record(
            request.tenant,
            user_id=request.user_id,
            conversation_id=request.conversation_id,
            kind=request.kind,
            question=request.question,
            search_query=rewrite.query,
            answer=answer,
        )
        answer.id = turn.id

    def _account(self, request: QueryRequest, answer: Answer, seconds: float) -> None:
        """Metrics, and for an answer the LLM wrote (not a cached one) its usage and cost."""
        status = "cached" if answer.cached else ("success" if answer.grounded else "no_answer")
        metrics.QUERIES.labels(status).inc()
        metrics.QUERY_LATENCY.observe(seconds)
        if not answer.cached and answer.usage.total_tokens:
            self._charge(request, answer.model, answer.usage)
        for c in answer.citations:
            metrics.CITATIONS.labels(str(c.supported).lower()).inc()

    def _charge(self, request: QueryRequest, model: str, usage: Usage) -> None:
        """Tokens one model call used: metrics, a usage row, its price and a cost event."""
        metrics.LLM_TOKENS.labels(model, "prompt").inc(usage.prompt_tokens)
        metrics.LLM_TOKENS.labels(model, "completion").inc(usage.completion_tokens)
        cost = self.prices.cost(model, usage.prompt_tokens, usage.completion_tokens)
        self.audit.record_usage(
            request.tenant,
            user_id=request.user_id,
            request_id=request.request_id,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=cost,
        )
        metrics.COST_DOLLARS.labels(request.tenant).inc(cost)
        costs.info(
            "cost_event",
            tenant_id=request.tenant,
            user_id=request.user_id,
            request_id=request.request_id,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=round(cost, 8),
            amount=round(cost, 8),  # the name operators' guides jq for
            currency="USD",
        )
