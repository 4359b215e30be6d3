"""Vision adapters: a caption of one image from a remote model, in three wire formats.

- ``openai`` / ``openai-compatible``: ``POST {base}/chat/completions``, the image as a
  ``data:`` URI in an ``image_url`` content part (OpenAI, vLLM, llama.cpp's server).
- ``anthropic``: ``POST {base}/v1/messages``, an ``image`` content block whose ``source``
  is ``{"type": "base64", "media_type", "data"}``.
- ``ollama``: ``POST {base}/api/chat`` with ``stream: false`` and the base64 image in the
  message's ``images`` list (llava, llama3.2-vision...).

Errors are translated by ``ProviderHTTP`` exactly as for the LLM adapters (401/403 name
the key's setting, 404 the model's, 429/5xx/timeouts are ``BackendUnavailable``); the
image and the key are never logged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ragd.adapters.http.client import ProviderHTTP, bearer
from ragd.adapters.llm.anthropic import ANTHROPIC_BASE_URL, ANTHROPIC_VERSION
from ragd.domain.models import Usage
from ragd.errors import BackendUnavailable, ConfigError
from ragd.ports.vision import CAPTION_PROMPT, Caption

OPENAI_BASE_URL = "https://api.openai.com/v1"

Body = dict[str, Any]


def openai_body(model: str, image: bytes, media_type: str, max_tokens: int) -> Body:
    uri = f"data:{media_type};base64,{base64.b64encode(image).decode('ascii')}"
    content = [
        {"type": "text", "text": CAPTION_PROMPT},
        {"type": "image_url", "image_url": {"url": uri}},
    ]
    return {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }


def openai_caption(payload: Any) -> tuple[str, Usage, str | None]:
    usage = payload.get("usage") or {}
    return (
        str(payload["choices"][0]["message"]["content"] or ""),
        Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        payload.get("model"),
    )


def anthropic_body(model: str, image: bytes, media_type: str, max_tokens: int) -> Body:
    source = {
        "type": "base64",
        "media_type": media_type,
        "data": base64.b64encode(image).decode("ascii"),
    }
    content = [{"type": "image", "source": source}, {"type": "text", "text": CAPTION_PROMPT}]
    return {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }


def anthropic_caption(payload: Any) -> tuple[str, Usage, str | None]:
    text = "".join(b.get("text", "") for b in payload["content"] if b.get("type") == "text")
    usage = payload.get("usage") or {}
    return (
        text,
        Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))),
        payload.get("model"),
    )


def ollama_body(model: str, image: bytes, media_type: str, max_tokens: int) -> Body:
    del media_type  # Ollama finds the format in the bytes
    message = {
        "role": "user",
        "content": CAPTION_PROMPT,
        "images": [base64.b64encode(image).decode("ascii")],
    }
    return {
        "model": model,
        "stream": False,
        "messages": [message],
        "options": {"num_predict": max_tokens, "temperature": 0},
    }


def ollama_caption(payload: Any) -> tuple[str, Usage, str | None]:
    return (
        str(payload["message"]["content"] or ""),
        Usage(int(payload.get("prompt_eval_count", 0)), int(payload.get("eval_count", 0))),
        payload.get("model"),
    )


Builder = Callable[[str, bytes, str, int], Body]
Reader = Callable[[Any], tuple[str, Usage, str | None]]
WIRES: dict[str, tuple[str, Builder, Reader]] = {
    "openai": ("/chat/completions", openai_body, openai_caption),
    "openai-compatible": ("/chat/completions", openai_body, openai_caption),
    "anthropic": ("/v1/messages", anthropic_body, anthropic_caption),
    "ollama": ("/api/chat", ollama_body, ollama_caption),
}


class RemoteVision:
    """The ``Vision`` port over one provider's wire format (``WIRES``). Thread-safe."""

    def __init__(self, *, wire: str, http: ProviderHTTP, model: str, max_tokens: int) -> None:
        if wire not in WIRES:
            raise ConfigError(f"unknown vision provider {wire!r} (RAGD_VISION_PROVIDER)")
        if not model:
            raise ConfigError("RAGD_VISION_PROVIDER is set: set RAGD_VISION_MODEL too")
        self._path, self._body, self._read = WIRES[wire]
        self._http = http
        self._model = model
        self._max_tokens = max_tokens

    def __repr__(self) -> str:  # never the key
        return f"RemoteVision(model={self._model!r}, base_url={self._http.base_url!r})"

    @property
    def model(self) -> str:
        return self._model

    def describe(self, image: bytes, media_type: str) -> Caption:
        body = self._body(self._model, image, media_type, self._max_tokens)
        payload = self._http.post_json(self._path, body)
        try:
            text, usage, model = self._read(payload)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise BackendUnavailable(
                f"{self._http.provider}: the answer is not a caption in the expected format"
            ) from exc
        return Caption(text=" ".join(text.split()), model=str(model or self._model), usage=usage)


def build(
    *,
    wire: str,
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    max_tokens: int,
    timeout: float,
) -> RemoteVision:
    """The adapter for ``RAGD_VISION_PROVIDER`` = ``wire``; ``base_url`` falls back to
    the provider's public URL (Ollama's is given by the caller: ``OLLAMA_URL``)."""
    headers: dict[str, str]
    if wire == "anthropic":
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        base, key_hint = base_url or ANTHROPIC_BASE_URL, "ANTHROPIC_API_KEY"
    elif wire == "ollama":
        headers, base, key_hint = {}, base_url or "http://127.0.0.1:11434", "RAGD_VISION_BASE_URL"
    else:
        headers, base, key_hint = bearer(api_key), base_url or OPENAI_BASE_URL, "OPENAI_API_KEY"
    http = ProviderHTTP(
        provider=f"vision ({wire})",
        base_url=base,
        headers=headers,
        secret=api_key if wire != "ollama" else None,
        timeout=timeout,
        key_hint=key_hint,
        model_hint="RAGD_VISION_MODEL and RAGD_VISION_BASE_URL",
        url_hint="RAGD_VISION_BASE_URL",
        timeout_hint="RAGD_VISION_TIMEOUT_SECONDS",
    )
    return RemoteVision(wire=wire, http=http, model=model or "", max_tokens=max_tokens)
