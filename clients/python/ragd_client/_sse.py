"""Server-sent events, read line by line (the subset ragd sends: ``event`` and ``data``).

Lines are bounded by the transport's chunking; an event's data is bounded here, so a
misbehaving server cannot make the client hold an unbounded event in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ragd_client.errors import RagdError, StreamError
from ragd_client.models import Answer, Citation, Citations, Done, Hit, StreamEvent, Token

MAX_EVENT_CHARS = 16 * 1024 * 1024


@dataclass
class _Event:
    name: str
    data: str


class _Parser:
    def __init__(self) -> None:
        self.name = "message"
        self.data: list[str] = []
        self.size = 0

    def feed(self, line: str) -> _Event | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self.data:
                self.name = "message"
                return None
            event = _Event(self.name, "\n".join(self.data))
            self.name, self.data, self.size = "message", [], 0
            return event
        if line.startswith(":"):
            return None  # a comment (ragd's keep-alive pings)
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            self.name = value
        elif key == "data":
            self.size += len(value)
            if self.size > MAX_EVENT_CHARS:
                raise RagdError(f"a stream event is over {MAX_EVENT_CHARS} characters")
            self.data.append(value)
        return None


def _answer_event(event: _Event, citations: Citations | None) -> StreamEvent | None:
    data: Any = json.loads(event.data) if event.data else {}
    if event.name == "token":
        return Token(str(data.get("text", "")))
    if event.name == "citations":
        return Citations(
            citations=[Citation.from_json(c) for c in data.get("citations") or []],
            passages=[Hit.from_json(h) for h in data.get("passages") or []],
        )
    if event.name == "done":
        body = dict(data)
        body.setdefault("citations", [c.raw for c in citations.citations] if citations else [])
        body.setdefault("passages", _hits_json(citations))
        return Done(Answer.from_json(body))
    if event.name == "error":
        raise StreamError(
            int(data.get("status", 500)),
            str(data.get("code", "error")),
            str(data.get("detail", "")),
            request_id=data.get("request_id"),
            body=data,
        )
    return None  # an event this client does not know: skipped


def _hits_json(citations: Citations | None) -> list[dict[str, Any]]:
    if citations is None:
        return []
    return [h.__dict__ for h in citations.passages]


def answer_events(lines: Iterable[str]) -> Iterator[StreamEvent]:
    """The answer stream's events, ``Done`` carrying the whole answer."""
    parser, seen = _Parser(), None
    for line in lines:
        event = parser.feed(line)
        if event is None:
            continue
        out = _answer_event(event, seen)
        if isinstance(out, Citations):
            seen = out
        if out is not None:
            yield out


async def aanswer_events(lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
    """``answer_events`` for an async line source."""
    parser, seen = _Parser(), None
    async for line in lines:
        event = parser.feed(line)
        if event is None:
            continue
        out = _answer_event(event, seen)
        if isinstance(out, Citations):
            seen = out
        if out is not None:
            yield out
