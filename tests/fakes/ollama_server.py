"""A fake Ollama server (native API): a real HTTP server on 127.0.0.1, in a thread.

It speaks ``POST /api/chat`` as Ollama does: ``stream`` defaults to true; a streamed
answer is newline-delimited JSON (``application/x-ndjson``), one object per token with
``message.content`` and ``"done": false``, then a last object with ``"done": true``,
``done_reason`` and the counts ``prompt_eval_count``/``eval_count``; a whole answer is
that last object with the full message. ``options.num_predict`` and ``options.stop``
are honoured; ``options.num_ctx`` is recorded (a prompt longer than it is counted in
:attr:`FakeOllamaServer.truncated_prompts`, where Ollama would silently cut it). Errors
are ``{"error": "..."}``: an unknown model gets 404 ``model "x" not found, try pulling it
first``. Also ``GET /api/tags`` and ``GET /api/version``.

Answers are those of ``tests.fakes.openai_server`` (one token per word).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_base import FakeHandler, FakeServer, Reply, Route, words
from tests.fakes.openai_server import generate

DEFAULT_MODEL = "llama-fake:1b"
DEFAULT_NUM_CTX = 2048


def error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    """An error in Ollama's shape."""
    return Reply.json(status, {"error": message}, headers=headers)


class FakeOllamaServer(FakeServer):
    """Args:
    models: model names served (tags included); others get 404. ``None``: any.
    send_prompt_count: include ``prompt_eval_count`` (Ollama leaves it out when the
        prompt was cached).
    chunk_delay: seconds between streamed lines.
    """

    def __init__(
        self,
        *,
        models: list[str] | None = None,
        send_prompt_count: bool = True,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(chunk_delay=chunk_delay)
        self.models = [DEFAULT_MODEL] if models is None else models
        self.send_prompt_count = send_prompt_count
        self.truncated_prompts = 0

    @property
    def base_url(self) -> str:
        return self.root_url

    def chat_requests(self) -> list[Any]:
        return self.requests_to("/api/chat")

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {
            ("POST", "/api/chat"): _chat,
            ("GET", "/api/tags"): _tags,
            ("GET", "/api/version"): lambda h, _b: h.send_json(200, {"version": "0.0.0-fake"}),
        }

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.raw("404 page not found", status=status, content_type="text/plain")


def _tags(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeOllamaServer)
    handler.send_json(200, {"models": [{"name": m, "model": m} for m in fake.models or []]})


def _chat(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeOllamaServer)
    if not isinstance(body, dict):
        handler.send_reply(error(400, "invalid character 'x' looking for beginning of value"))
        return
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        handler.send_reply(error(400, "model is required"))
        return
    if fake.models and model not in fake.models:
        handler.send_reply(error(404, f'model "{model}" not found, try pulling it first'))
        return
    if not isinstance(messages, list):
        handler.send_reply(error(400, "messages must be an array"))
        return
    options = body.get("options") or {}
    stop = options.get("stop") or []
    pieces, finish = generate(
        messages,
        max_tokens=options.get("num_predict"),
        stop=[stop] if isinstance(stop, str) else stop,
    )
    prompt = sum(len(words(str(m.get("content", "")))) + 4 for m in messages)
    if prompt > options.get("num_ctx", DEFAULT_NUM_CTX):
        fake.truncated_prompts += 1
    final: dict[str, Any] = {
        "done_reason": finish,
        "done": True,
        "total_duration": 1_000_000,
        "load_duration": 1000,
        "eval_count": len(pieces),
        "eval_duration": 900_000,
    }
    if fake.send_prompt_count:
        final["prompt_eval_count"] = prompt
        final["prompt_eval_duration"] = 100_000
    if body.get("stream", True):
        handler.stream("application/x-ndjson", _lines(model, pieces, final))
        return
    handler.send_json(
        200,
        {"model": model, "created_at": _now(), "message": _message("".join(pieces)), **final},
    )


def _lines(model: str, pieces: list[str], final: dict[str, Any]) -> Iterator[bytes]:
    for piece in pieces:
        line = {"model": model, "created_at": _now(), "message": _message(piece), "done": False}
        yield json.dumps(line).encode() + b"\n"
    last = {"model": model, "created_at": _now(), "message": _message(""), **final}
    yield json.dumps(last).encode() + b"\n"


def _message(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat().replace("+00:00", "Z")
