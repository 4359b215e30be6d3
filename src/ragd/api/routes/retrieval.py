"""``/api/v1/search`` and ``/api/v1/query`` (JSON, or Server-Sent Events with ``stream``).

The stream sends ``token`` events (``{"text"}``) as the answer is written, then one
``citations`` event (the checked citations and the passages they point at), then ``done``
(answer text, timings, usage). A failure after the stream has started is sent as an
``error`` event carrying the problem+json body, since the status line is already out.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ragd.api.deps import Reader, ServicesDep, request_id
from ragd.api.problems import PROBLEM_BASE, status_for
from ragd.api.schemas import Filters, HitOut, QueryIn, QueryOut, SearchIn, SearchOut
from ragd.api.tenancy import check_token_quota
from ragd.domain.accounts import Principal
from ragd.domain.answer import Answer
from ragd.domain.filters import SearchFilters
from ragd.errors import RagdError
from ragd.observability import metrics
from ragd.observability.logging import get_logger
from ragd.ports.llm import ChatMessage
from ragd.services.answer import AnswerEvent, Finished, Token
from ragd.services.container import Services

log = logging.getLogger("ragd.api")
costs = get_logger("ragd.cost")
router = APIRouter(prefix="/api/v1", tags=["retrieval"])


def filters_of(f: Filters | None) -> SearchFilters:
    return SearchFilters.from_mapping(f.model_dump(exclude_none=True) if f else None)


@router.post("/search", response_model=SearchOut, summary="Ranked passages with scores")
def search(body: SearchIn, request: Request, services: ServicesDep, principal: Reader) -> SearchOut:
    log_question(services, principal, request, "search", body.query)
    result = services.search.search(
        principal.tenant_id,
        body.query,
        mode=body.mode,
        k=body.top_k or services.settings.top_k_retrieval,
        filters=filters_of(body.filters),
    )
    request.state.docs_retrieved = len(result.hits)
    return SearchOut(
        hits=[HitOut.of(h) for h in result.hits], mode=result.mode, timings=result.timings
    )


@router.post(
    "/query",
    response_model=QueryOut,
    summary="Answer a question from the documents, with verified citations",
    responses={200: {"content": {"text/event-stream": {}}, "description": "with stream: true"}},
)
async def query(body: QueryIn, request: Request, services: ServicesDep, principal: Reader) -> Any:
    tenant = principal.tenant_id
    kwargs: dict[str, Any] = {
        "mode": body.mode,
        "k": body.top_k,
        "filters": filters_of(body.filters),
        "history": [ChatMessage(t.role, t.content) for t in body.history],
    }
    if not body.stream:

        def answer_and_record() -> Answer:
            # One hop to the thread pool for the whole request, not one per step: each hop
            # is a hand-off through the event loop, which 8 concurrent clients queue on.
            before_answer(services, principal, request, "query", body.query)
            started = time.perf_counter()
            try:
                answer = services.answers.answer(tenant, body.query, **kwargs)
            except Exception:
                metrics.QUERIES.labels("error").inc()
                raise
            record_answer(answer, time.perf_counter() - started, services, principal, request)
            return answer

        return QueryOut.of(await run_in_threadpool(answer_and_record))
    await run_in_threadpool(before_answer, services, principal, request, "query", body.query)
    # Validate (and fail with a proper status) before the stream starts.
    events = services.answers.stream(tenant, body.query, **kwargs)
    first = await run_in_threadpool(first_event, events)
    return EventSourceResponse(
        _sse(request, first, events, services, principal),
        ping=15,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def first_event(events: Iterator[AnswerEvent]) -> AnswerEvent:
    try:
        return next(events)
    except Exception:
        metrics.QUERIES.labels("error").inc()
        raise


async def _sse(
    request: Request,
    first: AnswerEvent,
    events: Iterator[AnswerEvent],
    services: Services,
    principal: Principal,
) -> AsyncIterator[ServerSentEvent]:
    started = time.perf_counter()
    request_id = getattr(request.state, "request_id", None)
    try:
        for sse in _events(first):
            yield sse
        async for event in iterate_in_threadpool(events):
            for sse in _events(event):
                yield sse
            if isinstance(event, Finished):
                await run_in_threadpool(
                    record_answer,
                    event.answer,
                    time.perf_counter() - started,
                    services,
                    principal,
                    request,
                )
    except RagdError as exc:
        metrics.QUERIES.labels("error").inc()
        status = status_for(exc)
        yield ServerSentEvent(
            event="error",
            data=json.dumps(
                {
                    "type": PROBLEM_BASE + exc.code,
                    "title": "error",
                    "status": status,
                    "detail": str(exc) if status < 500 or exc.retryable else "internal error",
                    "code": exc.code,
                    "request_id": request_id,
                }
            ),
        )
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _events(event: AnswerEvent) -> list[ServerSentEvent]:
    if isinstance(event, Token):
        return [ServerSentEvent(event="token", data=json.dumps({"text": event.text}))]
    out = QueryOut.of(event.answer)
    citations = {
        "citations": [c.model_dump() for c in out.citations],
        "passages": [p.model_dump() for p in out.passages],
    }
    done = out.model_dump(exclude={"citations", "passages"})
    return [
        ServerSentEvent(event="citations", data=json.dumps(citations)),
        ServerSentEvent(event="done", data=json.dumps(done)),
    ]


def log_question(
    services: Services, principal: Principal, request: Request, kind: str, text: str
) -> None:
    """Questions are kept in the query log (personal data: anonymisable, erasable)."""
    services.audit.record_query(
        principal.tenant_id,
        user_id=principal.user_id,
        request_id=request_id(request),
        kind=kind,
        text=text,
    )


def before_answer(
    services: Services, principal: Principal, request: Request, kind: str, text: str
) -> None:
    check_token_quota(services, principal.tenant_id)
    log_question(services, principal, request, kind, text)


def record_answer(
    answer: Answer, seconds: float, services: Services, principal: Principal, request: Request
) -> None:
    """Metrics and usage of one finished answer (shared with the OpenAI-compatible route)."""
    request.state.docs_retrieved = len(answer.passages)
    status = "cached" if answer.cached else ("success" if answer.grounded else "no_answer")
    metrics.QUERIES.labels(status).inc()
    metrics.QUERY_LATENCY.observe(seconds)
    if not answer.cached and answer.usage.total_tokens:
        metrics.LLM_TOKENS.labels(answer.model, "prompt").inc(answer.usage.prompt_tokens)
        metrics.LLM_TOKENS.labels(answer.model, "completion").inc(answer.usage.completion_tokens)
        cost = services.prices.cost(
            answer.model, answer.usage.prompt_tokens, answer.usage.completion_tokens
        )
        services.audit.record_usage(
            principal.tenant_id,
            user_id=principal.user_id,
            request_id=request_id(request),
            model=answer.model,
            prompt_tokens=answer.usage.prompt_tokens,
            completion_tokens=answer.usage.completion_tokens,
            cost_usd=cost,
        )
        metrics.COST_DOLLARS.labels(principal.tenant_id).inc(cost)
        costs.info(
            "cost_event",
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            request_id=request_id(request),
            model=answer.model,
            prompt_tokens=answer.usage.prompt_tokens,
            completion_tokens=answer.usage.completion_tokens,
            cost_usd=round(cost, 8),
        )
    for c in answer.citations:
        metrics.CITATIONS.labels(str(c.supported).lower()).inc()
