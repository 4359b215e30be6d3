"""The OpenAI Chat Completions wire format, shared by every adapter that speaks it.

OpenAI, vLLM, LM Studio, Ollama's ``/v1`` and llama.cpp's own server all take the same
request body and answer with the same ``chat.completion`` / ``chat.completion.chunk``
objects, so building the body and reading the answer live here once; an error object
is translated by the shared map of :mod:`ragd.adapters.http.errors`. Nothing in this
module does I/O or logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from ragd.adapters.http.errors import WireError, error_code, error_detail, error_for_status
from ragd.errors import InvalidRequest, RagdError
from ragd.ports.llm import GenerationRequest, Usage


@dataclass(frozen=True)
class ChunkEvent:
    """What one ``chat.completion.chunk`` contributes to a streamed answer."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


def request_body(request: GenerationRequest, *, model: str | None, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``.

    ``stop`` is sent only when there are stop sequences (some servers reject an empty
    list); a streamed request asks for usage in the final chunk (``stream_options``).

    Raises:
        InvalidRequest: the request has no messages.
    """
    if not request.messages:
        raise InvalidRequest("a generation request needs at least one chat message")
    body: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": stream,
    }
    if model is not None:
        body["model"] = model
    if request.stop:
        body["stop"] = list(request.stop)
    if stream:
        body["stream_options"] = {"include_usage": True}
    if request.json_output:
        body["response_format"] = {"type": "json_object"}
    return body


def parse_usage(value: object) -> Usage | None:
    """``usage`` of a response or final chunk; ``None`` when absent or not numbers."""
    if not isinstance(value, Mapping):
        return None
    prompt = value.get("prompt_tokens")
    completion = value.get("completion_tokens")
    if not _is_count(prompt) or not _is_count(completion):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def parse_completion(body: object) -> tuple[str, str, Usage | None]:
    """``(text, finish_reason, usage)`` of a ``chat.completion`` object.

    Raises:
        WireError: the object has no first choice with a message (``content`` may be
            ``null``, as for a refusal; that reads as empty text).
    """
    if not isinstance(body, Mapping):
        raise WireError(f"expected a JSON object, got {type(body).__name__}")
    choice = _first_choice(body)
    if choice is None:
        raise WireError("the response has no choices")
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise WireError("the first choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise WireError(f"message content is {type(content).__name__}, not text")
    return content or "", _finish_reason(choice), parse_usage(body.get("usage"))


def parse_chunk(chunk: object) -> ChunkEvent:
    """The text delta, finish reason and usage carried by one streamed chunk.

    Raises:
        WireError: the chunk is not an object or its delta content is not text.
        RagdError: the chunk is an error object (servers report mid-stream failures so).
    """
    if not isinstance(chunk, Mapping):
        raise WireError(f"expected a JSON object, got {type(chunk).__name__}")
    if "error" in chunk:
        raise error_from_payload(chunk, status=500, provider="the model server")
    usage = parse_usage(chunk.get("usage"))
    choice = _first_choice(chunk)
    if choice is None:  # the usage-only final chunk has "choices": []
        return ChunkEvent(usage=usage)
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, Mapping) else None
    if content is not None and not isinstance(content, str):
        raise WireError(f"delta content is {type(content).__name__}, not text")
    finish = choice.get("finish_reason")
    return ChunkEvent(
        delta=content or "",
        finish_reason=finish if isinstance(finish, str) and finish else None,
        usage=usage,
    )


def error_from_payload(payload: object, *, status: int, provider: str) -> RagdError:
    """Translate an error object; its own ``code`` wins over ``status`` when numeric
    (llama.cpp's server puts the HTTP status there)."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("code"), int):
        status = int(error["code"])
    return error_for_status(
        status, error_detail(payload), provider=provider, code=error_code(payload)
    )


def _first_choice(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    return choices[0]


def _finish_reason(choice: Mapping[str, Any]) -> str:
    finish = choice.get("finish_reason")
    return finish if isinstance(finish, str) and finish else "stop"


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
