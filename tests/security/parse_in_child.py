"""Parse files in a child process under a memory and a time limit, and measure it.

A hostile file must not be able to take the test run down with it, and "memory stays
bounded" must be measured, not assumed: the child sets ``RLIMIT_AS`` (address space)
once its imports are done, parses what it is sent, and reports for each file the
outcome, the seconds it took and its peak RSS so far above the level after imports
(``VmHWM`` is a high-water mark, so a fresh child per file measures that file alone).
A child that overruns the time limit is killed and replaced; one that dies is replaced.

Used by ``tests/security/test_archives.py``, ``tests/security/test_parser_fuzz.py`` and
``bench/fuzz_parsers.py``.
"""

from __future__ import annotations

import multiprocessing as mp
import re
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

MiB = 1024 * 1024

# Library jargon that must never reach a rejection message.
_JARGON = re.compile(
    r"Traceback|\b[A-Z]\w*(Error|Exception|EOF|Warning)\b|\bPSEOF\b|Errno|0x[0-9a-f]{6,}"
)


@dataclass(frozen=True)
class Outcome:
    kind: str  # "parsed", "rejected", "error" (another exception), "timeout", "died"
    detail: str  # sections/characters, the rejection message, or the exception
    seconds: float
    peak_rss_mb: float  # the child's peak RSS above its level after imports

    @property
    def bounded(self) -> bool:
        """Returned sections or refused with a plain sentence, within the limits."""
        if self.kind == "parsed":
            return True
        return self.kind == "rejected" and is_sentence(self.detail)


def is_sentence(message: str) -> bool:
    """A message a person can read: words, no exception names, no dump."""
    return 10 <= len(message) <= 400 and not _JARGON.search(message) and " " in message


class ParserChild:
    """One child process that parses files sent to it, until closed."""

    def __init__(
        self, *, memory_mb: int = 1024, timeout_s: float = 20.0, limits: Any = None
    ) -> None:
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self.limits = limits  # a ParseLimits for the registry, or None for the defaults
        self._ctx = mp.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self._conn, child_conn = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_serve, args=(child_conn, self.memory_mb * MiB, self.limits), daemon=True
        )
        self._proc.start()
        child_conn.close()
        if not self._conn.poll(120):
            raise RuntimeError("the parser child did not start")
        self._conn.recv()

    def parse(self, data: bytes, media_type: str, *, source: str = "fuzz") -> Outcome:
        try:
            self._conn.send((data, media_type, source))
            ready = self._conn.poll(self.timeout_s)
            if ready:
                kind, detail, seconds, peak = self._conn.recv()
                return Outcome(kind, detail, seconds, peak)
        except (EOFError, OSError, BrokenPipeError):
            self._restart()
            return Outcome("died", f"exit code {self._proc.exitcode}", 0.0, float("nan"))
        self._restart()
        return Outcome("timeout", f"no answer within {self.timeout_s:.0f} s", self.timeout_s, 0)

    def _restart(self) -> None:
        self._kill()
        self._start()

    def _kill(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(10)
        self._conn.close()

    def close(self) -> None:
        try:
            self._conn.send(None)
            self._proc.join(10)
        except (OSError, BrokenPipeError):
            pass
        self._kill()

    def __enter__(self) -> ParserChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_once(data: bytes, media_type: str, **limits: Any) -> Outcome:
    """Parse one file in a fresh child: its peak RSS is this file's alone."""
    with ParserChild(**limits) as child:
        return child.parse(data, media_type, source="file")


def _serve(conn: Connection, memory_bytes: int, limits: Any = None) -> None:  # pragma: no cover
    import resource
    import time
    import traceback

    # Import everything a parse may import, so the baseline includes the libraries.
    import docx  # noqa: F401
    import extract_msg  # noqa: F401
    import openpyxl  # noqa: F401
    import pdfplumber  # noqa: F401
    import pptx  # noqa: F401
    import trafilatura  # noqa: F401

    from ragd.adapters.parsers.content_metadata import detect_language

    detect_language("The language model is loaded once per parser process, before any file.")

    from ragd.adapters.parsers.parsing import ParserRegistry
    from ragd.errors import DocumentRejected

    registry = ParserRegistry(limits)

    def peak_mb() -> float:
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a big
        # test runner would start at the runner's peak and hide its own growth.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
        raise RuntimeError("no VmHWM in /proc/self/status")

    with open("/proc/self/statm") as f:
        address_space = int(f.read().split()[0]) * resource.getpagesize()
    limit = address_space + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    base = peak_mb()
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        data, media_type, source = message
        started = time.perf_counter()
        try:
            if media_type == "application/zip":  # the archive checker on its own
                kind, detail = "parsed", _read_archive(data)
            else:
                doc = registry.parse(data, media_type, source=source)
                chars = sum(len(s.text) for s in doc.sections)
                kind, detail = "parsed", f"{len(doc.sections)} sections, {chars} characters"
        except DocumentRejected as exc:
            kind, detail = "rejected", str(exc)
        except BaseException as exc:  # the property under test: this never happens
            kind, detail = "error", "".join(traceback.format_exception(exc))[-3000:]
        del message, data
        conn.send((kind, detail, time.perf_counter() - started, peak_mb() - base))


def _read_archive(data: bytes) -> str:  # pragma: no cover - in the child
    from ragd.adapters.parsers.archives import ArchiveLimits, open_archive

    archive = open_archive(data, ArchiveLimits(), what="zip file")
    inflated = sum(len(archive.read(m.name)) for m in archive.members)
    return f"{len(archive.members)} members, {inflated} bytes"
