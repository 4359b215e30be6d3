"""A parser that runs out of memory, time or luck fails its document, not the worker.

Real hostile inputs, generated here: Markdown made of a few hundred thousand emphasis
markers costs markdown-it ~400 bytes of memory per byte, and a line of opening brackets
takes it seconds per hundred kilobytes. Through the services the embedded worker uses, each
document must end ``failed`` after one attempt, with a sentence that names the limit, and
the same worker must go on indexing the next document.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from ragd.adapters.parsers.parsing import ParserRegistry
from ragd.domain.models import DocumentStatus, ParsedDocument, TenantId
from ragd.errors import DocumentRejected
from ragd.services.container import Services, build_services, migrate_database
from ragd.worker import build_worker
from tests.conftest import make_settings

TENANT = TenantId("default")
EMPHASIS_BOMB = b"a**" * 400_000  # 1.2 MB; in-process it peaks above 500 MB of RSS
BRACKETS = b"[" * 400_000 + b"a"  # 400 KB; in-process it takes about 9 s


def _services(tmp_path: Path, **limits: object) -> Services:
    settings = make_settings(tmp_path / "data", **limits)
    migrate_database(settings)
    return build_services(settings)


def _ingest(services: Services, name: str, data: bytes) -> str:
    return services.ingest.submit_bytes(TENANT, data, source=name).document.id


def _drain(services: Services) -> None:
    build_worker(services).run(until_idle=True)


@pytest.mark.slow
def test_memory_and_time_bombs_fail_once_with_the_reason(tmp_path: Path) -> None:
    # Each bomb under its own limit: the memory bomb with time to spare (on a loaded machine
    # it ran out of 3 s before it reached 300 MB: CI saw the time reason), the time bomb
    # with memory to spare. OCR off: with it on, the parse process gets RAGD_OCR_MEMORY_MB
    # more (the engine's).
    memory_bound = _services(
        tmp_path / "memory", parse_memory_mb=300, parse_timeout_seconds=120, ocr_engine="off"
    )
    try:
        bomb = _ingest(memory_bound, "bomb.md", EMPHASIS_BOMB)
        fine = _ingest(memory_bound, "fine.md", b"# Bees\n\nForagers dance to show the way.")
        _drain(memory_bound)
        assert memory_bound.store.get_document(TENANT, bomb).status == DocumentStatus.FAILED
        assert memory_bound.store.get_document(TENANT, bomb).error == (
            "parsing needed more than 300 MB of memory (RAGD_PARSE_MEMORY_MB); "
            "the document was not retried"
        )
        assert memory_bound.store.get_document(TENANT, fine).status == DocumentStatus.INDEXED
    finally:
        memory_bound.close()
    time_bound = _services(
        tmp_path / "time", parse_memory_mb=1024, parse_timeout_seconds=3, ocr_engine="off"
    )
    try:
        slow = _ingest(time_bound, "brackets.md", BRACKETS)
        fine = _ingest(time_bound, "fine.md", b"# Bees\n\nForagers dance to show the way.")
        _drain(time_bound)
        assert time_bound.store.get_document(TENANT, slow).status == DocumentStatus.FAILED
        assert time_bound.store.get_document(TENANT, slow).error == (
            "parsing took longer than 3 seconds (RAGD_PARSE_TIMEOUT_SECONDS); "
            "the document was not retried"
        )
        assert time_bound.store.get_document(TENANT, fine).status == DocumentStatus.INDEXED
        # Afterwards the same services still parse and index.
        later = _ingest(time_bound, "later.txt", b"Tides follow the moon.")
        _drain(time_bound)
        assert time_bound.store.get_document(TENANT, later).status == DocumentStatus.INDEXED
    finally:
        time_bound.close()


class CrashingParsing(ParserRegistry):
    """A parser library that dies of a signal (as a C extension's segfault would) on a
    file whose name says so; test-only, pickled into the sandbox's child."""

    def parse(self, data: bytes, media_type: str, *, source: str) -> ParsedDocument:
        if source.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if source.startswith("hog"):
            hoard = [bytearray(1 << 20) for _ in range(100_000)]  # 100 GB, never reached
            del hoard
        return super().parse(data, media_type, source=source)


@pytest.mark.slow
def test_a_crashing_parser_is_contained_and_replaced() -> None:
    from ragd.adapters.parsers.sandbox import SandboxedParsing

    sandbox = SandboxedParsing(CrashingParsing(), memory_mb=256, timeout_seconds=20)
    try:
        with pytest.raises(DocumentRejected, match="killed by SIGSEGV; the document was not"):
            sandbox.parse(b"boom", "text/plain", source="crash.txt")
        with pytest.raises(DocumentRejected, match="more than 256 MB of memory"):
            sandbox.parse(b"greedy", "text/plain", source="hog.txt")
        parsed = sandbox.parse(b"Still parsing.", "text/plain", source="ok.txt")
        assert parsed.sections[0].text == "Still parsing."
        # An ordinary rejection keeps its own message and the child.
        with pytest.raises(DocumentRejected, match="document is empty"):
            sandbox.parse(b"  \n ", "text/plain", source="blank.txt")
    finally:
        sandbox.close()
