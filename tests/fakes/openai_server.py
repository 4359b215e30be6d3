"""A fake OpenAI Chat Completions server: a real HTTP server on 127.0.0.1, in a thread.

It speaks the wire format of ``POST /v1/chat/completions`` (JSON and SSE streaming with
``data: [DONE]``, ``stream_options.include_usage``, ``usage``), ``GET /v1/models`` and
OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``, so adapters (and
later the official ``openai`` SDK) are tested through their real HTTP clients.

Answers are deterministic, computed from the request: :func:`answer_text` echoes the
question of the last user message and cites ``[1]``; one token is one whitespace-separated
word, so ``max_tokens`` and ``stop`` behave as a real model's would.

Failures are scripted per request with :meth:`FakeOpenAIServer.enqueue` (``Reply.error``,
``Reply.raw``, ``Reply.hang``; a bare ``Reply()`` answers that request normally); without
a script every request gets the default answer. The server itself is
``tests.fakes.http_base.FakeServer``.

    with FakeOpenAIServer(api_key="sk-test") as server:
        server.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
        ...  # point the client at server.base_url
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes import http_base
from tests.fakes.http_base import FakeHandler, FakeServer, RecordedRequest, Route

__all__ = ["DEFAULT_MODEL", "FakeOpenAIServer", "RecordedRequest", "Reply", "answer_text"]

DEFAULT_MODEL = "fake-gpt"
FINGERPRINT = "fp_fake"


@dataclass(frozen=True)
class Reply(http_base.Reply):
    """A scripted answer to one chat completion request."""

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """An error in OpenAI's shape."""
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        return cls(status=status, body=json.dumps(body).encode(), headers=dict(headers or {}))


def answer_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """The fake model's full answer: the last user message's question, echoed, and ``[1]``.

    The question is the text after the last ``Question:`` (the RAG prompt layout), or the
    whole message, first line only, at most 20 words.
    """
    last = ""
    for message in messages:
        content = message.get("content")
        image = _image_of(message) if message.get("role") == "user" else None
        if image is not None:  # a vision request: a caption that names the image's size
            return caption_text(image)
        if message.get("role") == "user" and isinstance(content, str):
            last = content
    question = last.rsplit("Question:", 1)[-1].strip()
    words = question.splitlines()[0].split()[:20] if question else []
    asked = " ".join(words).rstrip("?.!") or "nothing"
    return f"You asked: {asked}. The answer is in passage one [1]."


VISION_CAPTION = "A quokka-blue bar chart with four bars rising to the right"


def _image_of(message: Mapping[str, Any]) -> str | None:
    """The base64 image of a vision request in any of the three wire formats: OpenAI's
    ``image_url`` data URI, Anthropic's ``image`` block with a base64 ``source``,
    Ollama's ``images`` list; None for a text-only message."""
    images = message.get("images")
    if isinstance(images, list) and images:  # Ollama
        return str(images[0])
    content = message.get("content")
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":  # OpenAI
            head, _, payload = str(part["image_url"]["url"]).partition(",")
            return payload if head.startswith("data:image/") and head.endswith(";base64") else ""
        if part.get("type") == "image" and part.get("source", {}).get("type") == "base64":
            return str(part["source"]["data"])  # Anthropic
    return None


def caption_text(image_b64: str) -> str:
    """The fake vision model's caption of a base64 image: a fixed phrase and the decoded
    image's size (so a test sees the image itself really arrived)."""
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        width, height = Image.open(io.BytesIO(base64.b64decode(image_b64))).size
    except (binascii.Error, UnidentifiedImageError, ValueError):
        return "not an image"
    return f"{VISION_CAPTION} ({width}x{height} pixels)."


def generate(
    messages: Iterable[Mapping[str, Any]], *, max_tokens: int | None, stop: Iterable[str] = ()
) -> tuple[list[str], str]:
    """The answer as token pieces (word, then `` word``…) and its finish reason."""
    text = answer_text(messages)
    finish = "stop"
    for s in stop:
        if s and s in text:
            text = text[: text.index(s)]
    words = text.split()
    if max_tokens is not None and len(words) > max_tokens:
        words, finish = words[:max_tokens], "length"
    return [w if i == 0 else " " + w for i, w in enumerate(words)], finish


def prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """The fake tokenizer: words, plus 4 per message for the chat template."""
    return sum(len(str(m.get("content", "")).split()) + 4 for m in messages)


class FakeOpenAIServer(FakeServer):
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`.

    Args:
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get 401
            (whose message echoes the key received, unmasked: harsher than OpenAI, so
            clients' masking of keys in error messages is tested).
        models: model names served; others get 404 ``model_not_found``. ``None``: any.
        send_usage: include ``usage`` in answers (and the final chunk when asked for).
        chunk_delay: seconds between streamed chunks.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] | None = (DEFAULT_MODEL,),
        send_usage: bool = True,
        chunk_delay: float = 0.0,
    ) -> None:
        super().__init__(api_key=api_key, chunk_delay=chunk_delay)
        self.models = None if models is None else list(models)
        self.send_usage = send_usage

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()  # type: ignore[return-value]

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?", 1)[0].endswith("/chat/completions")]

    # -- provider hooks ----------------------------------------------------------------

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {
            **{("GET", path): _models for path in ("/v1/models", "/models")},
            **{
                ("POST", p): _chat_completion for p in ("/v1/chat/completions", "/chat/completions")
            },
        }

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        if self.api_key is None:
            return None
        got = handler.headers.get("Authorization", "")
        if got == f"Bearer {self.api_key}":
            return None
        key = got.removeprefix("Bearer ").strip()
        message = (
            f"Incorrect API key provided: {key}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key."
        )
        return Reply.error(401, message, code="invalid_api_key")

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply.error(status, message, code="unknown_url")

    def next_reply(self) -> http_base.Reply | None:
        reply = super().next_reply()
        if reply is not None and reply.body is None and not reply.hang_seconds:
            return None  # ``Reply()``: answer this one normally
        return reply


def _models(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeOpenAIServer)
    models = fake.models or [DEFAULT_MODEL]
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
    handler.send_json(200, {"object": "list", "data": data})


def _chat_completion(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeOpenAIServer)

    def fail(status: int, message: str, **extra: Any) -> None:
        handler.send_reply(Reply.error(status, message, **extra))

    if not isinstance(body, dict):
        fail(400, "We could not parse the JSON body of your request.")
        return
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        fail(400, "'messages' must be a non-empty array", param="messages")
        return
    model = body.get("model")
    if not isinstance(model, str):
        fail(400, "you must provide a model parameter", param="model")
        return
    if fake.models is not None and model not in fake.models:
        fail(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
        return
    stop = body.get("stop") or []
    stops = [stop] if isinstance(stop, str) else list(stop)
    pieces, finish = generate(messages, max_tokens=body.get("max_tokens"), stop=stops)
    usage = {
        "prompt_tokens": prompt_tokens(messages),
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens(messages) + len(pieces),
    }
    if body.get("stream"):
        options = body.get("stream_options") or {}
        with_usage = bool(options.get("include_usage")) and fake.send_usage
        events = _chunks(model, pieces, finish, usage if with_usage else None)
        handler.stream("text/event-stream; charset=utf-8", events)
        return
    answer: dict[str, Any] = {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
    }
    if fake.send_usage:
        answer["usage"] = usage
    handler.send_json(200, answer)


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _chunks(
    model: str, pieces: list[str], finish: str, usage: dict[str, int] | None
) -> Iterator[bytes]:
    """SSE events as OpenAI sends them: role first, one chunk per token, the finish
    chunk, the usage chunk (``choices: []``) when asked for, then ``[DONE]``."""
    base = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }
    extra: dict[str, Any] = {"usage": None} if usage is not None else {}

    def event(choices: list[dict[str, Any]], **more: Any) -> bytes:
        return f"data: {json.dumps({**base, 'choices': choices, **extra, **more})}\n\n".encode()

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    yield event([choice({"role": "assistant", "content": "", "refusal": None})])
    for piece in pieces:
        yield event([choice({"content": piece})])
    yield event([choice({}, finish)])
    if usage is not None:
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"
