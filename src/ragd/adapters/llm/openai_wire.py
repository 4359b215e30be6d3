"""The OpenAI Chat Completions wire format, shared by every adapter that speaks it.

OpenAI, vLLM, LM Studio, Ollama's ``/v1`` and llama.cpp's own server all take the same
request body and answer with the same ``chat.completion`` / ``chat.completion.chunk``
objects, so building the body, reading the answer and turning an error into a
``ragd.errors`` type live here once. Nothing in this module does I/O or logs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError
from ragd.ports.llm import GenerationRequest, Usage

MAX_DETAIL_CHARS = 300
"""Provider error messages are quoted in ours up to this length."""


class WireError(ValueError):
    """A response that does not follow the wire format (the caller says whose)."""


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


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event in ``lines`` (already split, no newlines).

    Follows the SSE rules that matter here: ``data:`` lines of one event are joined with
    newlines, an empty line ends the event, comment lines (``:``) and the ``event``,
    ``id`` and ``retry`` fields are ignored, one space after the colon is dropped.
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def error_detail(payload: object, secret: str | None = None) -> str:
    """A provider's error message, short and with ``secret`` masked.

    Reads OpenAI's ``{"error": {"message", "type", "code"}}``, plain ``{"error": "..."}``
    (Ollama) and ``{"message": ...}``; anything else is quoted as text.
    """
    text: str
    if isinstance(payload, Mapping):
        error = payload.get("error", payload)
        if isinstance(error, Mapping):
            message = error.get("message")
            code = error.get("code") or error.get("type")
            text = str(message) if message is not None else str(dict(error))
            if isinstance(code, str) and code and code not in text:
                text = f"{code}: {text}"
        else:
            text = str(error)
    else:
        text = str(payload)
    text = " ".join(text.split())
    if secret:
        text = text.replace(secret, "***")
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1] + "…"
    return text


def error_code(payload: object) -> str | None:
    """The machine code of an OpenAI-style error body (``rate_limit_exceeded``…)."""
    if isinstance(payload, Mapping):
        error = payload.get("error")
        if isinstance(error, Mapping):
            code = error.get("code") or error.get("type")
            return code if isinstance(code, str) else None
    return None


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str,
    code: str | None = None,
    retry_after: float | None = None,
) -> RagdError:
    """The ``ragd.errors`` type for an HTTP failure of a model provider.

    401/403 and 404 are configuration (key, model name, base URL); 429 and 5xx, 408 and
    409 are worth retrying, except a 429 for an exhausted quota (OpenAI's
    ``insufficient_quota``), which no retry fixes; other 4xx are the request's fault (a
    prompt longer than the context, a bad parameter).
    """
    where = f"{provider} answered HTTP {status}"
    if status in (401, 403):
        return ConfigError(f"{where} (check the API key, OPENAI_API_KEY): {detail}")
    if status == 404:
        return ConfigError(f"{where} (check LLM_MODEL and LLM_BASE_URL): {detail}")
    if status == 429 and code == "insufficient_quota":
        return ConfigError(f"{where} (quota exhausted; check the provider account): {detail}")
    if status in (408, 409, 429) or status >= 500:
        hint = f", retry after {retry_after:g}s" if retry_after is not None else ""
        return BackendUnavailable(f"{where}{hint}: {detail}")
    if 400 <= status < 500:
        return InvalidRequest(f"{where}: {detail}")
    return BackendUnavailable(f"{where} (unexpected status): {detail}")


def error_from_payload(payload: object, *, status: int, provider: str) -> RagdError:
    """Translate an error object; its own ``code`` wins over ``status`` when numeric
    (llama.cpp's server puts the HTTP status there)."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("code"), int):
        status = int(error["code"])
    return error_for_status(
        status, error_detail(payload), provider=provider, code=error_code(payload)
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; ``None`` otherwise."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: quoted in no message, not worth a date parser
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _first_choice(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    return choices[0]


def _finish_reason(choice: Mapping[str, Any]) -> str:
    finish = choice.get("finish_reason")
    return finish if isinstance(finish, str) and finish else "stop"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
