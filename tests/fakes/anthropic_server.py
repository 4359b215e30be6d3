"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1, in a thread.

It speaks ``POST /v1/messages`` as Anthropic does: ``x-api-key`` and ``anthropic-version``
headers (both checked), top-level ``system``, ``max_tokens`` required,
``stop_sequences``, a ``message`` object with ``content`` blocks, ``stop_reason`` and
``usage`` (``input_tokens``/``output_tokens``), and with ``"stream": true`` the
server-sent events ``message_start``, ``content_block_start``, ``ping``,
``content_block_delta`` (``text_delta``), ``content_block_stop``, ``message_delta``
(stop reason, cumulative ``output_tokens``) and ``message_stop``. Errors are
``{"type": "error", "error": {"type", "message"}}``; :func:`error` and :func:`overloaded`
build scripted ones (429 with ``retry-after``, 529 ``overloaded_error``…).

Answers are those of ``tests.fakes.openai_server``: the question of the last user turn
echoed with ``[1]``, one token per word, so ``max_tokens`` and stop sequences behave as a
model's would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from tests.fakes.http_base import FakeHandler, FakeServer, Reply, Route, words
from tests.fakes.openai_server import answer_text

DEFAULT_MODEL = "claude-fake-1"
VERSION = "2023-06-01"


def error(
    status: int, type: str, message: str, *, headers: Mapping[str, str] | None = None
) -> Reply:
    """An error in Anthropic's shape."""
    body = {"type": "error", "error": {"type": type, "message": message}}
    return Reply.json(status, body, headers={"request-id": "req_fake", **(headers or {})})


def overloaded() -> Reply:
    return error(529, "overloaded_error", "Overloaded")


def generate(
    messages: list[Mapping[str, Any]], *, max_tokens: int, stops: list[str]
) -> tuple[list[str], str, str | None]:
    """``(pieces, stop_reason, stop_sequence)`` of the fake model's answer."""
    text = answer_text(messages)
    stop_reason, matched = "end_turn", None
    hits = [(text.index(s), s) for s in stops if s and s in text]
    if hits:
        cut, matched = min(hits)
        text, stop_reason = text[:cut], "stop_sequence"
    pieces = words(text)
    if len(pieces) > max_tokens:
        pieces, stop_reason, matched = pieces[:max_tokens], "max_tokens", None
    return [w if i == 0 else " " + w for i, w in enumerate(pieces)], stop_reason, matched


def input_tokens(system: object, messages: list[Mapping[str, Any]]) -> int:
    text = system if isinstance(system, str) else ""
    return len(words(text)) + sum(len(words(str(m.get("content", "")))) + 3 for m in messages)


class FakeAnthropicServer(FakeServer):
    """Args:
    api_key: when set, requests without ``x-api-key: <api_key>`` get 401 (whose message
        echoes the key received: harsher than Anthropic, so masking is tested).
    models: model names served; others get 404 ``not_found_error``. ``None``: any.
    chunk_delay: seconds between streamed events.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: list[str] | None = None,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(api_key=api_key, chunk_delay=chunk_delay)
        self.models = [DEFAULT_MODEL] if models is None else models

    @property
    def base_url(self) -> str:
        """What Anthropic clients take as ``base_url`` (no ``/v1``)."""
        return self.root_url

    def message_requests(self) -> list[Any]:
        return self.requests_to("/v1/messages")

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", "/v1/messages"): _messages}

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        got = handler.headers.get("x-api-key")
        if self.api_key is not None and got != self.api_key:
            return error(401, "authentication_error", f"invalid x-api-key: {got}")
        if handler.headers.get("anthropic-version") != VERSION:
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    def error_reply(self, status: int, message: str) -> Reply:
        return error(status, "not_found_error", message)


def _messages(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeAnthropicServer)
    if not isinstance(body, dict):
        handler.send_reply(error(400, "invalid_request_error", "invalid JSON body"))
        return
    messages, model = body.get("messages"), body.get("model")
    problem = None
    if not isinstance(model, str):
        problem = "model: Field required"
    elif not isinstance(body.get("max_tokens"), int):
        problem = "max_tokens: Field required"
    elif not isinstance(messages, list) or not messages:
        problem = "messages: at least one message is required"
    elif any(m.get("role") not in ("user", "assistant") for m in messages):
        problem = "messages: roles must be 'user' or 'assistant' (system goes in 'system')"
    elif not 0 <= body.get("temperature", 1) <= 1:
        problem = "temperature: must be between 0 and 1"
    if problem is not None:
        handler.send_reply(error(400, "invalid_request_error", problem))
        return
    if fake.models and model not in fake.models:
        handler.send_reply(error(404, "not_found_error", f"model: {model}"))
        return
    pieces, stop_reason, matched = generate(
        messages, max_tokens=body["max_tokens"], stops=list(body.get("stop_sequences") or [])
    )
    usage = {"input_tokens": input_tokens(body.get("system"), messages)}
    if body.get("stream"):
        handler.stream(
            "text/event-stream; charset=utf-8",
            _events(model, pieces, stop_reason, matched, usage["input_tokens"]),
        )
        return
    handler.send_json(
        200,
        {
            "id": _message_id(),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(pieces)}],
            "stop_reason": stop_reason,
            "stop_sequence": matched,
            "usage": {**usage, "output_tokens": len(pieces)},
        },
        headers={"request-id": "req_fake"},
    )


def _events(
    model: str, pieces: list[str], stop_reason: str, matched: str | None, prompt: int
) -> Iterator[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {
        "id": _message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": 1},
    }
    yield event("message_start", {"type": "message_start", "message": start})
    block = {"type": "text", "text": ""}
    yield event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    )
    yield event("ping", {"type": "ping"})
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        yield event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )
    yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": matched},
            "usage": {"output_tokens": len(pieces)},
        },
    )
    yield event("message_stop", {"type": "message_stop"})


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"
