"""The Vision port on every adapter: OpenAI-compatible, Anthropic and Ollama wire formats,
each against a local server speaking that format (``tests/fakes``), which decodes the
image it receives and names its size in the caption."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ragd.adapters.vision import RemoteVision, build
from ragd.errors import BackendUnavailable, ConfigError
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.http_base import FakeServer, Reply
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import VISION_CAPTION, FakeOpenAIServer

KEY = "sk-vision-contract"


@dataclass
class Case:
    wire: str
    server: FakeServer
    vision: RemoteVision
    path: str


def png(size: tuple[int, int] = (120, 80)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(params=["openai-compatible", "anthropic", "ollama"])
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    wire = request.param
    server: FakeServer
    if wire == "anthropic":
        server, path = FakeAnthropicServer(api_key=KEY, models=["vis"]), "/v1/messages"
    elif wire == "ollama":
        server, path = FakeOllamaServer(models=["vis"]), "/api/chat"
    else:
        server, path = FakeOpenAIServer(api_key=KEY, models=["vis"]), "/v1/chat/completions"
    with server:
        base = server.base_url  # type: ignore[attr-defined]
        vision = build(
            wire=wire, model="vis", base_url=base, api_key=KEY, max_tokens=100, timeout=5
        )
        yield Case(wire, server, vision, path)


def test_the_image_reaches_the_model_and_the_caption_comes_back(case: Case) -> None:
    caption = case.vision.describe(png((120, 80)), "image/png")
    assert caption.text == f"{VISION_CAPTION} (120x80 pixels)."
    assert caption.model == "vis"
    assert caption.usage.completion_tokens > 0
    [request] = case.server.requests_to(case.path)
    assert "image" in str(request.body) and KEY not in str(request.body)


def test_an_unknown_model_is_a_config_error_naming_the_setting(case: Case) -> None:
    other = build(
        wire=case.wire,
        model="missing",
        base_url=case.server.base_url,  # type: ignore[attr-defined]
        api_key=KEY,
        max_tokens=100,
        timeout=5,
    )
    with pytest.raises(ConfigError, match="RAGD_VISION_MODEL"):
        other.describe(png(), "image/png")


def test_overload_is_retryable_and_a_malformed_answer_is_unavailable(case: Case) -> None:
    case.server.enqueue(Reply.json(503, {"error": {"message": "busy"}}))
    with pytest.raises(BackendUnavailable) as raised:
        case.vision.describe(png(), "image/png")
    assert raised.value.retryable
    case.server.enqueue(Reply.json(200, {"unexpected": True}))
    with pytest.raises(BackendUnavailable, match="not a caption"):
        case.vision.describe(png(), "image/png")


def test_a_wrong_key_names_the_key_setting_and_never_shows_the_key() -> None:
    with FakeOpenAIServer(api_key=KEY, models=["vis"]) as server:
        vision = build(
            wire="openai",
            model="vis",
            base_url=server.base_url,
            api_key="sk-wrong-secret",
            max_tokens=50,
            timeout=5,
        )
        with pytest.raises(ConfigError, match="OPENAI_API_KEY") as raised:
            vision.describe(png(), "image/png")
    assert "sk-wrong-secret" not in str(raised.value)


def test_no_model_is_refused_at_build() -> None:
    with pytest.raises(ConfigError, match="RAGD_VISION_MODEL"):
        build(wire="ollama", model=None, base_url=None, api_key=None, max_tokens=50, timeout=5)
