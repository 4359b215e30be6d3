"""Answering: retrieve, decline when nothing relevant was found, prompt, generate, verify.

The LLM only writes text; this service decides what the caller sees: passages below
``SIMILARITY_THRESHOLD`` never reach the prompt, a question with no relevant passage gets
``NO_ANSWER`` without calling the model, and every ``[n]`` in the text is checked against
the passage it names (``services.citations``). Answers are cached under a key that holds
the tenant's index version, so a document change is never answered from a stale entry.

Traced as ``cache`` (the lookup), the search service's spans, ``rerank`` and ``llm``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from ragd.domain.answer import NO_ANSWER, Answer, answer_from_dict, answer_to_dict
from ragd.domain.filters import SearchFilters
from ragd.domain.models import Hit, TenantId
from ragd.errors import RagdError
from ragd.observability import tracing
from ragd.ports.cache import Cache
from ragd.ports.index import Mode
from ragd.ports.llm import LLM, ChatMessage, Completion, GenerationRequest, Usage
from ragd.ports.reranker import Reranker
from ragd.services.citations import check_citations
from ragd.services.prompting import PromptBuilder
from ragd.services.search import SearchService

log = logging.getLogger("ragd.answer")
tracer = trace.get_tracer("ragd")


@dataclass(frozen=True)
class AnswerPolicy:
    similarity_threshold: float = 0.0
    min_support: float = 0.5
    default_k: int = 10
    rerank_k: int = 5
    """Passages kept after reranking (``TOP_K_RERANK``)."""


@dataclass(frozen=True)
class Token:
    """A piece of answer text as the model produced it."""

    text: str


@dataclass(frozen=True)
class Finished:
    answer: Answer


AnswerEvent = Token | Finished


class AnswerService:
    def __init__(
        self,
        search: SearchService,
        llm: LLM,
        prompts: PromptBuilder,
        *,
        policy: AnswerPolicy,
        cache: Cache | None = None,
        content_version: Callable[[TenantId], object] = lambda _t: 0,
        reranker: Reranker | None = None,
    ) -> None:
        self.search = search
        self.llm = llm
        self.prompts = prompts
        self.policy = policy
        self.cache = cache
        self.content_version = content_version
        self.reranker = reranker

    def answer(
        self,
        tenant: TenantId,
        question: str,
        *,
        mode: Mode | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        history: Sequence[ChatMessage] = (),
        search_query: str | None = None,
    ) -> Answer:
        """The checked answer, generated in one LLM call (no token stream).

        ``search_query`` (a follow-up's stand-alone question) is what retrieval and the
        reranker use; the prompt keeps ``question`` and ``history``."""
        answer: Answer | None = None
        for event in self._events(
            tenant, question, mode, k, filters, history, whole=True, search_query=search_query
        ):
            if isinstance(event, Finished):
                answer = event.answer
        assert answer is not None
        return answer

    def stream(
        self,
        tenant: TenantId,
        question: str,
        *,
        mode: Mode | None = None,
        k: int | None = None,
        filters: SearchFilters | None = None,
        history: Sequence[ChatMessage] = (),
        search_query: str | None = None,
    ) -> Generator[AnswerEvent, None, None]:
        """Tokens as they are generated, then one ``Finished`` with the checked answer.

        Nothing runs until the first ``next()``: a refused question (bad mode, ``k`` or
        filters) raises there, before the caller has sent anything."""
        return self._events(
            tenant, question, mode, k, filters, history, whole=False, search_query=search_query
        )

    def _events(
        self,
        tenant: TenantId,
        question: str,
        mode: Mode | None,
        k: int | None,
        filters: SearchFilters | None,
        history: Sequence[ChatMessage],
        *,
        whole: bool,
        search_query: str | None = None,
    ) -> Generator[AnswerEvent, None, None]:
        """The answer's events; with ``whole`` the LLM is asked for the complete text at
        once and only ``Finished`` is produced."""
        t0 = time.perf_counter()
        k = k or self.policy.default_k
        searched = search_query or question
        key = self._cache_key(tenant, question, mode, k, filters, history)
        if searched != question:
            key += ":" + hashlib.sha256(searched.encode()).hexdigest()[:16]
        cached = self._cached(tenant, key)
        if cached is not None:
            answer = answer_from_dict(cached)
            answer.cached = True
            answer.timings = {"total_ms": (time.perf_counter() - t0) * 1e3}
            if not whole:
                yield Token(answer.text)
            yield Finished(answer)
            return

        result = self.search.search(tenant, searched, mode=mode, k=k, filters=filters)
        timings = dict(result.timings)
        passages = self._relevant(result.hits)
        if passages and self.reranker is not None:
            t_rerank = time.perf_counter()
            passages = self._rerank(tenant, searched, passages)
            timings["rerank_ms"] = (time.perf_counter() - t_rerank) * 1e3
        if not passages:
            answer = Answer(NO_ANSWER, [], [], self.llm.model, grounded=False, timings=timings)
            if not whole:
                yield Token(NO_ANSWER)
        else:
            plan = self.prompts.build(question, passages, history)
            t1 = time.perf_counter()
            completion: Completion | None = None
            if whole:
                with tracer.start_as_current_span(
                    "llm", attributes=self._llm_attributes(tenant)
                ) as span:
                    completion = self.llm.complete(plan.request)
                    _record_completion(span, completion)
            else:
                for piece in self._traced_stream(tenant, plan.request):
                    if isinstance(piece, Completion):
                        completion = piece
                    else:
                        if "first_token_ms" not in timings:
                            timings["first_token_ms"] = (time.perf_counter() - t0) * 1e3
                        yield Token(piece)
            assert completion is not None, "an LLM stream must end with a Completion"
            t2 = time.perf_counter()
            checked = check_citations(
                completion.text, plan.passages, min_support=self.policy.min_support
            )
            timings.update(llm_ms=(t2 - t1) * 1e3, verify_ms=(time.perf_counter() - t2) * 1e3)
            answer = Answer(
                checked.text,
                checked.citations,
                plan.passages,
                completion.model,
                grounded=True,
                usage=completion.usage,
                timings=timings,
            )
        answer.timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        if self.cache is not None and answer.model == self.llm.model:
            # An answer from a fallback provider is not cached: once the primary is back,
            # the next asker gets its answer.
            self.cache.set(tenant, key, answer_to_dict(replace(answer, usage=Usage())))
        yield Finished(answer)

    def _cached(self, tenant: TenantId, key: str) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        with tracer.start_as_current_span("cache", attributes={tracing.TENANT: tenant}) as span:
            cached = self.cache.get(tenant, key)
            span.set_attribute(tracing.CACHE_HIT, cached is not None)
        return cached

    def _llm_attributes(self, tenant: TenantId) -> dict[str, str]:
        return {tracing.TENANT: tenant, tracing.LLM_REQUEST_MODEL: self.llm.model}

    def _traced_stream(
        self, tenant: TenantId, request: GenerationRequest
    ) -> Iterator[str | Completion]:
        """The LLM's stream inside an ``llm`` span that is current only while the provider
        works: this generator is resumed from a different thread (and context copy) per
        token, and a span left attached across a ``yield`` could not be detached."""
        span = tracer.start_span("llm", attributes=self._llm_attributes(tenant))
        pieces: Iterator[str | Completion] | None = None
        try:
            with trace.use_span(span):
                pieces = iter(self.llm.stream(request))
            while True:
                with trace.use_span(span):
                    piece = next(pieces, None)
                if piece is None:
                    return
                if isinstance(piece, Completion):
                    _record_completion(span, piece)
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            span.end()

    def _rerank(self, tenant: TenantId, question: str, hits: list[Hit]) -> list[Hit]:
        """Reorder by the reranker and keep ``rerank_k``; on a reranker failure keep the
        retrieval order (an answer from fused ranks beats no answer)."""
        assert self.reranker is not None
        with tracer.start_as_current_span(
            "rerank",
            attributes={
                tracing.TENANT: tenant,
                tracing.RERANK_MODEL: self.reranker.model,
                tracing.RERANK_CANDIDATES: len(hits),
                tracing.RERANK_TOP_K: self.policy.rerank_k,
            },
        ) as span:
            try:
                scores = self.reranker.rerank(question, [h.text for h in hits])
            except RagdError as exc:
                log.warning("rerank failed, keeping retrieval order: %s", exc.code)
                span.set_status(Status(StatusCode.ERROR, exc.code))
                return hits[: self.policy.rerank_k]
        order = sorted(range(len(hits)), key=lambda i: scores[i], reverse=True)
        return [hits[i] for i in order[: self.policy.rerank_k]]

    def _relevant(self, hits: list[Hit]) -> list[Hit]:
        """Hits at or above the threshold. A hit the dense half did not score (sparse mode,
        or a keyword-only match in hybrid) passes when some hit cleared the threshold, or
        when no hit has a similarity at all (pure keyword search)."""
        threshold = self.policy.similarity_threshold
        scored = [h.similarity for h in hits if h.similarity is not None]
        if scored and max(scored) < threshold:
            return []
        return [h for h in hits if h.similarity is None or h.similarity >= threshold]

    def _cache_key(
        self,
        tenant: TenantId,
        question: str,
        mode: Mode | None,
        k: int,
        filters: SearchFilters | None,
        history: Sequence[ChatMessage],
    ) -> str:
        material = json.dumps(
            [
                str(self.content_version(tenant)),
                question.strip(),
                mode or self.search.default_mode,
                k,
                repr(filters or SearchFilters()),
                [(m.role, m.content) for m in history],
                self.llm.model,
                self.prompts.max_passages,
                self.prompts.max_tokens,
                self.policy.similarity_threshold,
                # How passages are ranked: a cache in Redis outlives a restart with new
                # RAGD_FUSION* settings, whose answers must not be the old ones.
                repr(self.search.fusion),
            ],
            sort_keys=True,
        )
        return "answer:" + hashlib.sha256(material.encode()).hexdigest()


def _record_completion(span: Span, completion: Completion) -> None:
    span.set_attribute(tracing.LLM_RESPONSE_MODEL, completion.model)
    span.set_attribute(tracing.LLM_INPUT_TOKENS, completion.usage.prompt_tokens)
    span.set_attribute(tracing.LLM_OUTPUT_TOKENS, completion.usage.completion_tokens)
