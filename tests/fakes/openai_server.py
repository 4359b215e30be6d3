"""A fake OpenAI Chat Completions server: a real HTTP server on 127.0.0.1, in a thread.

It speaks the wire format of ``POST /v1/chat/completions`` (JSON and SSE streaming with
``data: [DONE]``, ``stream_options.include_usage``, ``usage``), ``GET /v1/models`` and
OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``, so adapters (and
later the official ``openai`` SDK) are tested through their real HTTP clients.

Answers are deterministic, computed from the request: :func:`answer_text` echoes the
question of the last user message and cites ``[1]``; one token is one whitespace-separated
word, so ``max_tokens`` and ``stop`` behave as a real model's would.

Failures are scripted per request with :meth:`FakeOpenAIServer.enqueue` (``Reply.error``,
``Reply.raw``, ``Reply.hang``); without a script every request gets the default answer.

    with FakeOpenAIServer(api_key="sk-test") as server:
        server.enqueue(Reply.error(429, "Rate limit reached", headers={"Retry-After": "2"}))
        ...  # point the client at server.base_url
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "fake-gpt"
FINGERPRINT = "fp_fake"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The parsed JSON body, ``None`` when there was none or it was not JSON."""


@dataclass(frozen=True)
class Reply:
    """A scripted answer to one chat completion request."""

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0
    """Wait this long (or until the server stops), then close without answering."""

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """An error in OpenAI's shape."""
        body = {"error": {"message": message, "type": type, "param": None, "code": code}}
        return cls(status=status, body=json.dumps(body).encode(), headers=dict(headers or {}))

    @classmethod
    def raw(
        cls, body: bytes | str, *, status: int = 200, content_type: str = "application/json"
    ) -> Reply:
        """Exactly these bytes (for malformed responses)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status=status, body=data, content_type=content_type)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Never answer (until ``seconds`` pass or the server stops)."""
        return cls(hang_seconds=seconds)


def answer_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """The fake model's full answer: the last user message's question, echoed, and ``[1]``.

    The question is the text after the last ``Question:`` (the RAG prompt layout), or the
    whole message, first line only, at most 20 words.
    """
    last = ""
    for message in messages:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            last = message["content"]
    question = last.rsplit("Question:", 1)[-1].strip()
    words = question.splitlines()[0].split()[:20] if question else []
    asked = " ".join(words).rstrip("?.!") or "nothing"
    return f"You asked: {asked}. The answer is in passage one [1]."


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


class FakeOpenAIServer:
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
        self.api_key = api_key
        self.models = None if models is None else list(models)
        self.send_usage = send_usage
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self.aborted_streams = 0
        """Streams whose client went away before the server finished writing."""
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._aborted = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        httpd = _QuietServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    # -- scripting and inspection ------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next chat completion requests with ``replies``, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests, scripted replies and aborted streams."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.aborted_streams = 0
            self._aborted.clear()

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_for_aborted_stream(self, timeout: float = 5.0) -> bool:
        return self._aborted.wait(timeout)

    # -- used by the handler -----------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _note_aborted(self) -> None:
        with self._lock:
            self.aborted_streams += 1
        self._aborted.set()


class _QuietServer(ThreadingHTTPServer):
    """A client hanging up (an early-closed stream, a timed-out client) is normal here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are dropped after this
    server_fake: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows stderr of failing tests

    # -- routing -----------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            models = self.server_fake.models or [DEFAULT_MODEL]
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"Unknown request URL: GET {self.path}", code="unknown_url")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"Unknown request URL: POST {self.path}", code="unknown_url")
            return
        if not self._authorized():
            return
        reply = self.server_fake._next_reply()
        if reply is not None and (reply.body is not None or reply.hang_seconds):
            self._send_scripted(reply)
            return
        self._chat_completion(body)

    # -- chat completions --------------------------------------------------------------

    def _chat_completion(self, body: Any) -> None:
        fake = self.server_fake
        if not isinstance(body, dict):
            self._send_error(400, "We could not parse the JSON body of your request.")
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_error(400, "'messages' must be a non-empty array", param="messages")
            return
        model = body.get("model")
        if not isinstance(model, str):
            self._send_error(400, "you must provide a model parameter", param="model")
            return
        if fake.models is not None and model not in fake.models:
            self._send_error(
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
            self._stream(model, pieces, finish, usage if with_usage else None)
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
        self._send_json(200, answer)

    def _stream(
        self, model: str, pieces: list[str], finish: str, usage: dict[str, int] | None
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in _chunks(model, pieces, finish, usage):
                self._write_chunk(event)
                if self.server_fake.chunk_delay:
                    time.sleep(self.server_fake.chunk_delay)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except ConnectionError:  # BrokenPipeError, ConnectionResetError
            self.server_fake._note_aborted()
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- helpers -----------------------------------------------------------------------

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_fake._record(RecordedRequest(self.command, self.path, headers, body))

    def _authorized(self) -> bool:
        expected = self.server_fake.api_key
        if expected is None:
            return True
        got = self.headers.get("Authorization", "")
        if got == f"Bearer {expected}":
            return True
        key = got.removeprefix("Bearer ").strip()
        message = (
            f"Incorrect API key provided: {key}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
            if key
            else "You didn't provide an API key."
        )
        self._send_error(401, message, code="invalid_api_key")
        return False

    def _send_scripted(self, reply: Reply) -> None:
        if reply.hang_seconds:
            self.server_fake._stopping.wait(reply.hang_seconds)
            self.close_connection = True
            return
        data = reply.body or b""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        self._send_json(status, body)

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


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
