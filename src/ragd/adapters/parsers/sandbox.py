"""The Parsing port with every parse run in a child process under memory and time limits.

Parsers are large third-party libraries fed hostile bytes: a markdown file of a million
emphasis markers needs ~400 bytes of memory per byte, a PDF or a zip can inflate without
bound, a page of brackets takes minutes. Run in the worker's own process (the API process,
in embedded mode), such a file takes the server down with it, or holds the GIL so that
``/health`` stops answering; and since a killed worker's job is retried, it kills the
next worker too. In a child process the damage is contained and can be named: the child
caps its address space (``RLIMIT_AS``), the parent waits a bounded time, and a child that
runs out of memory, dies or overruns is replaced while its document fails permanently
(``DocumentRejected``) with a sentence that says why: the same bytes would do it again.

The children are long-lived (one per concurrent worker, started on first use) and get the
bytes, the media type and the source name over a pipe; a small document costs a pickle
round trip (about a millisecond), not a process start. Each is a fresh interpreter
(``python -m ragd.adapters.parsers.sandbox``), never a plain ``fork``: the parent has
threads (the API, the ONNX runtime) that a forked child would inherit in an undefined
state. Detection and record splitting stay in the parent:
they read the first bytes of a file or are part of the upload request.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import weakref
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import NoReturn

from ragd.domain.models import ParsedDocument, SourceRecord
from ragd.errors import BackendUnavailable, DocumentRejected
from ragd.ports.parser import Parsing

log = logging.getLogger(__name__)

_NOT_RETRIED = "the document was not retried"
_START_SECONDS = 60.0
_EXIT_MEMORY = 75
"""A child's exit status after a ``MemoryError`` (its answer may not have got through)."""


class SandboxedParsing:
    """``Parsing`` that delegates ``parse`` to ``inner`` in child processes.

    ``inner`` is pickled to each child, so it must be importable there (the registry is).
    ``memory_mb`` caps each child's address space (0: no cap); ``timeout_seconds`` bounds
    one parse; ``processes`` is how many parses may run at once (one per worker thread).
    """

    def __init__(
        self,
        inner: Parsing,
        *,
        memory_mb: int,
        timeout_seconds: float,
        processes: int = 1,
    ) -> None:
        if processes < 1:
            raise ValueError(f"the parse sandbox needs at least 1 process, got {processes}")
        self._inner = inner
        self._memory_mb = memory_mb
        self._timeout = timeout_seconds
        self._idle: queue.LifoQueue[_Child | None] = queue.LifoQueue()  # warm child first
        self._children: set[_Child] = set()
        self._lock = threading.Lock()
        for _ in range(processes):
            self._idle.put(None)  # a slot; its child starts on first use
        self._finalizer = weakref.finalize(self, _stop_all, self._children, self._lock)

    def detect(self, source: str, head: bytes) -> str:
        return self._inner.detect(source, head)

    def split_records(
        self, data: bytes, media_type: str, *, source: str
    ) -> list[SourceRecord] | None:
        return self._inner.split_records(data, media_type, source=source)

    def parse(self, data: bytes, media_type: str, *, source: str) -> ParsedDocument:
        child = self._idle.get()
        try:
            if child is None or not child.alive():
                self._discard(child)
                child = self._start()
            outcome, value = child.call((data, media_type, source), self._timeout)
            if outcome not in ("ok", "error"):
                self._discard(child)
                child = None
        except BaseException:
            self._discard(child)
            child = None
            raise
        finally:
            self._idle.put(child)
        if outcome == "ok" and isinstance(value, ParsedDocument):
            return value
        if outcome == "error" and isinstance(value, BaseException):
            raise value
        message = self._explain(outcome, value)
        log.warning("parsing %s failed in its sandbox: %s", source, message)
        raise DocumentRejected(message)

    def close(self) -> None:
        """Stop the children (they also stop when this object or the parent goes)."""
        self._finalizer()

    def _explain(self, outcome: str, value: object) -> str:
        if outcome == "memory" or (outcome == "died" and value == _EXIT_MEMORY):
            return (
                f"parsing needed more than {self._memory_mb} MB of memory "
                f"(RAGD_PARSE_MEMORY_MB); {_NOT_RETRIED}"
            )
        if outcome == "timeout":
            return (
                f"parsing took longer than {self._timeout:g} seconds "
                f"(RAGD_PARSE_TIMEOUT_SECONDS); {_NOT_RETRIED}"
            )
        code = value if isinstance(value, int) else None
        if code is not None and code < 0:
            name = _signal_name(-code)
            hint = ", most likely for using too much memory" if -code == signal.SIGKILL else ""
            return f"the parser was killed by {name}{hint}; {_NOT_RETRIED}"
        return f"the parser stopped unexpectedly (exit code {code}); {_NOT_RETRIED}"

    def _start(self) -> _Child:
        try:
            child = _Child(self._inner, self._memory_mb)
        except (OSError, RuntimeError) as exc:
            raise BackendUnavailable(f"cannot start a parser process: {exc}") from exc
        with self._lock:
            self._children.add(child)
        return child

    def _discard(self, child: _Child | None) -> None:
        if child is None:
            return
        child.stop()
        with self._lock:
            self._children.discard(child)


class _Child:
    """One parser process and the parent's end of its socket.

    Started as ``python -m ragd.adapters.parsers.sandbox`` rather than through
    ``multiprocessing``: a spawned multiprocessing child first re-runs the parent's main
    module, which for an unguarded script (or ``python -``) is wrong or impossible.
    """

    def __init__(self, inner: Parsing, memory_mb: int) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        # glibc reserves 64 MiB of address space per thread arena; the OCR engine's
        # threads would spend the RLIMIT_AS cap on reservations they never touch.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        try:
            self._conn.send((inner, memory_mb * 1024 * 1024))
            if not self._conn.poll(_START_SECONDS) or self._conn.recv() != "ready":
                raise RuntimeError(f"no answer within {_START_SECONDS:g} seconds")
        except (EOFError, OSError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"the parser process did not start: {exc}") from exc

    def alive(self) -> bool:
        return self._process.poll() is None

    def call(self, request: tuple[bytes, str, str], timeout: float) -> tuple[str, object]:
        """``("ok", parsed)``, ``("error", exc)``, or why the child could not answer:
        ``("memory", None)``, ``("timeout", None)``, ``("died", exit status)``."""
        try:
            self._conn.send(request)
            if not self._conn.poll(timeout):
                self.stop()
                return "timeout", None
            reply: tuple[str, object] = self._conn.recv()
        except (EOFError, OSError):
            return "died", self._wait()
        return reply

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._wait()
        self._conn.close()

    def _wait(self) -> int | None:
        try:
            return self._process.wait(5)
        except subprocess.TimeoutExpired:
            return None


def _stop_all(children: set[_Child], lock: threading.Lock) -> None:
    with lock:
        stopping = list(children)
        children.clear()
    for child in stopping:
        child.stop()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _serve(fd: int) -> None:
    """The child's loop: set up, then parse what arrives until the parent goes away.

    After a ``MemoryError`` the child answers ``memory`` and exits with ``_EXIT_MEMORY``:
    a heap that ran dry may be left in any state, and the next document deserves a fresh
    one.
    """
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(fd)
    inner, memory_bytes = conn.recv()
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    conn.send("ready")
    while True:
        try:
            data, media_type, source = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            _out_of_memory(conn)
        try:
            reply: tuple[str, object] = ("ok", inner.parse(data, media_type, source=source))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:  # the parent raises it, as an in-process parse would
            reply = ("error", exc)
        del data
        if reply[0] == "memory":
            _out_of_memory(conn)
        _send(conn, reply)


def _out_of_memory(conn: Connection) -> NoReturn:
    with suppress(Exception):
        conn.send(("memory", None))
    sys.exit(_EXIT_MEMORY)


def _send(conn: Connection, reply: tuple[str, object]) -> None:
    """Send ``reply``; an answer too big for the memory left is a memory failure, and an
    exception that does not pickle goes as a ``RuntimeError`` with its text."""
    try:
        conn.send(reply)
    except MemoryError:
        _out_of_memory(conn)
    except (EOFError, OSError):
        sys.exit(0)  # the parent is gone
    except Exception:  # an unpicklable exception from a parser library
        exc = reply[1]
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
