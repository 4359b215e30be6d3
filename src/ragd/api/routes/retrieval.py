"""``/api/v1/search`` and ``/api/v1/query`` (JSON, or Server-Sent Events with ``stream``).

The stream sends ``token`` events (``{"text"}``) as the answer is written, then one
``citations`` event (the checked citations and the passages they point at), then ``done``
(answer text, timings, usage). A failure after the stream has started is sent as an
``error`` event carrying the problem+json body, since the status line is already out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ragd.api.asking import query_request
from ragd.api.deps import Reader, ServicesDep
from ragd.api.problems import PROBLEM_BASE, status_for
from ragd.api.schemas import HitOut, QueryIn, QueryOut, RelationOut, SearchIn, SearchOut
from ragd.errors import RagdError
from ragd.ports.llm import ChatMessage
from ragd.services.answer import AnswerEvent, Token

router = APIRouter(prefix="/api/v1", tags=["retrieval"])


@router.post("/search", response_model=SearchOut, summary="Ranked passages with scores")
def search(body: SearchIn, request: Request, services: ServicesDep, principal: Reader) -> SearchOut:
    result = services.queries.search(
        query_request(
            principal,
            request,
            "search",
            body.query,
            mode=body.mode,
            k=body.top_k,
            filters=body.filters,
            collections=body.collection,
        )
    )
    request.state.docs_retrieved = len(result.hits)
    return SearchOut(
        hits=[HitOut.of(h) for h in result.hits],
        mode=result.mode,
        timings=result.timings,
        relations=[
            RelationOut(
                source=r.source,
                kind=r.kind,
                target=r.target,
                chunk_ids=list(r.chunk_ids),
                hops=r.hops,
            )
            for r in result.relations
        ],
    )


@router.post(
    "/query",
    response_model=QueryOut,
    summary="Answer a question from the documents, with verified citations",
    responses={200: {"content": {"text/event-stream": {}}, "description": "with stream: true"}},
)
async def query(body: QueryIn, request: Request, services: ServicesDep, principal: Reader) -> Any:
    asked = query_request(
        principal,
        request,
        "query",
        body.query,
        mode=body.mode,
        k=body.top_k,
        filters=body.filters,
        collections=body.collection,
        history=tuple(ChatMessage(t.role, t.content) for t in body.history),
        conversation_id=body.conversation_id,
    )
    if not body.stream:
        # One hop to the thread pool for the whole request, not one per step: each hop
        # is a hand-off through the event loop, which 8 concurrent clients queue on.
        answer = await run_in_threadpool(services.queries.answer, asked)
        request.state.docs_retrieved = len(answer.passages)
        return QueryOut.of(answer)
    events = services.queries.stream(asked)
    # Quota, validation and retrieval run with the first event: they fail with a proper
    # status before the stream starts.
    first = await run_in_threadpool(next, events)
    return EventSourceResponse(
        _sse(request, first, events),
        ping=15,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(
    request: Request, first: AnswerEvent, events: Generator[AnswerEvent, None, None]
) -> AsyncIterator[ServerSentEvent]:
    request_id = getattr(request.state, "request_id", None)
    try:
        for sse in _events(request, first):
            yield sse
        async for event in iterate_in_threadpool(events):
            for sse in _events(request, event):
                yield sse
    except RagdError as exc:
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
        events.close()


def _events(request: Request, event: AnswerEvent) -> list[ServerSentEvent]:
    if isinstance(event, Token):
        return [ServerSentEvent(event="token", data=json.dumps({"text": event.text}))]
    request.state.docs_retrieved = len(event.answer.passages)
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
