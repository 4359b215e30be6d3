"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``.

Existing chat clients point their base URL at ragd and get answers grounded in the
tenant's documents. The last user message is the question; earlier turns are context. The
model name picks the retrieval mode (``ragd`` = the configured default, ``ragd-hybrid``,
``ragd-dense``, ``ragd-sparse``). Citations are in the text (``[n]`` markers plus a
"Sources" list) and in an extra ``citations`` field, on the response (and on the last
chunk when streaming), which OpenAI SDKs keep as an extra attribute; so is
``search_query``, the stand-alone question a follow-up was searched with. The response
``id`` (``chatcmpl-<answer id>``) names the answer for feedback
(``POST /api/v1/answers/{id}/feedback``). An extra ``conversation_id`` asks in a stored
conversation, as on ``/api/v1/query``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Generator
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ragd.api.asking import query_request
from ragd.api.deps import Reader, ServicesDep
from ragd.api.problems import ProblemError
from ragd.api.schemas import CitationOut
from ragd.domain.answer import Answer
from ragd.domain.conversations import ANSWER_ID_PREFIX
from ragd.ports.llm import ChatMessage
from ragd.services.answer import AnswerEvent, Finished, Token
from ragd.services.search import MAX_QUERY_CHARS

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

MODELS: dict[str, Literal["hybrid", "dense", "sparse", "graph", "hybrid+graph"] | None] = {
    "ragd": None,
    "ragd-hybrid": "hybrid",
    "ragd-dense": "dense",
    "ragd-sparse": "sparse",
    "ragd-graph": "graph",
    "ragd-hybrid+graph": "hybrid+graph",
}
CREATED = 1_700_000_000


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    conversation_id: str | None = Field(None, max_length=64)


@router.get("/models", summary="Models (retrieval modes) this ragd answers with")
def models(services: ServicesDep, _principal: Reader) -> dict[str, Any]:
    graph = services.search.graph is not None  # the graph models only when it is enabled
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "ragd"}
            for name, mode in MODELS.items()
            if graph or mode not in ("graph", "hybrid+graph")
        ],
    }


@router.post("/chat/completions", summary="OpenAI-compatible chat, grounded in your documents")
async def chat_completions(
    body: ChatRequest, request: Request, services: ServicesDep, principal: Reader
) -> Any:
    model, _, collection = body.model.partition(":")  # "ragd:hr" asks collection hr
    if model not in MODELS or (_ and not collection):
        raise ProblemError(
            404, "model_not_found", f"model {body.model!r} does not exist; see GET /v1/models"
        )
    question, history = _split(body.messages)
    asked = query_request(
        principal,
        request,
        "chat",
        question,
        mode=MODELS[model],
        history=tuple(history),
        collections=[collection] if collection else None,
        conversation_id=body.conversation_id,
    )
    created = int(time.time())
    if not body.stream:
        answer = await run_in_threadpool(services.queries.answer, asked)
        request.state.docs_retrieved = len(answer.passages)
        return {
            "id": _response_id(answer),
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text + _sources(answer)},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(answer),
            "citations": _citations(answer),
            "search_query": answer.search_query,
        }
    events = services.queries.stream(asked)
    # Quota, validation and retrieval run with the first event: they fail with a proper
    # status before the stream starts.
    first = await run_in_threadpool(next, events)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    # The answer's id is known when it is finished; the chunks before carry this one, and
    # the last chunk ("finish_reason": "stop") carries "answer_id" for feedback.
    completion_id = ANSWER_ID_PREFIX + uuid.uuid4().hex
    return EventSourceResponse(
        _chunks(request, first, events, completion_id, created, body.model, include_usage),
        ping=15,
        sep="\n",
        headers={"Cache-Control": "no-store"},
    )


def _split(messages: list[Message]) -> tuple[str, list[ChatMessage]]:
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ProblemError(422, "validation_error", "messages must contain a user message")
    last = users[-1]
    question = messages[last].text().strip()
    if not question:
        raise ProblemError(422, "validation_error", "the last user message is empty")
    if len(question) > MAX_QUERY_CHARS:
        raise ProblemError(
            422, "validation_error", f"the question is longer than {MAX_QUERY_CHARS} characters"
        )
    history = [
        ChatMessage("assistant" if m.role == "assistant" else "user", m.text())
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.text().strip()
    ]
    return question, history


async def _chunks(
    request: Request,
    first: AnswerEvent,
    events: Generator[AnswerEvent, None, None],
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return json.dumps(body)

    yield chunk({"role": "assistant", "content": ""})
    try:
        pending: list[AnswerEvent] = [first]

        async def all_events() -> AsyncIterator[AnswerEvent]:
            for e in pending:
                yield e
            async for e in iterate_in_threadpool(events):
                yield e

        async for event in all_events():
            if isinstance(event, Token):
                yield chunk({"content": event.text})
            elif isinstance(event, Finished):
                answer = event.answer
                request.state.docs_retrieved = len(answer.passages)
                sources = _sources(answer)
                if sources:
                    yield chunk({"content": sources})
                yield chunk(
                    {},
                    "stop",
                    citations=_citations(answer),
                    search_query=answer.search_query,
                    answer_id=_response_id(answer) if answer.id else None,
                )
                if include_usage:
                    usage = {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": _usage(answer),
                    }
                    yield json.dumps(usage)
        yield "[DONE]"
    finally:
        events.close()


def _response_id(answer: Answer) -> str:
    """``chatcmpl-`` and the answer id, which feedback accepts as it is."""
    return ANSWER_ID_PREFIX + (answer.id or uuid.uuid4().hex)


def _sources(answer: Answer) -> str:
    cited = sorted({c.n for c in answer.citations})
    if not cited:
        return ""
    lines = []
    for n in cited:
        hit = answer.passages[n - 1]
        page = f", page {hit.page}" if hit.page else ""
        lines.append(f"[{n}] {hit.title}{page}")
    return "\n\nSources:\n" + "\n".join(lines)


def _citations(answer: Answer) -> list[dict[str, Any]]:
    return [CitationOut.of(c).model_dump() for c in answer.citations]


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "total_tokens": answer.usage.total_tokens,
    }
