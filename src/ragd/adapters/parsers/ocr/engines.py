"""The OCR engine seam: what an engine returns, how it is chosen, and a page's time limit.

An engine is loaded once per process (the parse sandbox's child keeps it between
documents) and reads one page image at a time. Both engines give words or text boxes with
a confidence; ``assemble`` puts them in reading order the same way for both, so the bench
compares the recognisers, not two layout heuristics.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from ragd.errors import ConfigError

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class Box:
    """One recognised run of text and where it sits on the page (pixels)."""

    text: str
    confidence: float
    left: float
    top: float
    bottom: float


@dataclass(frozen=True)
class OcrPage:
    """A page's text in reading order and its confidence (0-1, weighted by characters)."""

    text: str
    confidence: float | None


class OcrEngine(Protocol):
    name: str

    def read(self, image: Image, *, timeout: float) -> OcrPage:
        """The text of ``image``; ``PageTimeout`` when it takes more than ``timeout`` s."""
        ...


class PageTimeout(BaseException):
    """One page took longer than it was allowed.

    A ``BaseException``, because it is raised from a timer signal inside the engine's own
    code, whose ``except Exception`` clauses would otherwise swallow or rename it.
    """


@lru_cache(maxsize=2)
def get_engine(name: str, threads: int) -> OcrEngine:
    """The engine ``name`` (``RAGD_OCR_ENGINE``), loaded once per process."""
    if name == "rapidocr":
        from ragd.adapters.parsers.ocr.rapid import RapidOcrEngine

        return RapidOcrEngine(threads=threads)
    if name == "tesseract":
        from ragd.adapters.parsers.ocr.tesseract import TesseractEngine

        return TesseractEngine(threads=threads)
    raise ConfigError(f"unknown OCR engine {name!r} (RAGD_OCR_ENGINE: rapidocr, tesseract, off)")


def check_available(name: str) -> None:
    """Raise ``ConfigError`` now, at start-up, when engine ``name`` could not be loaded
    (cheaply: the engine itself is loaded by the first page that needs it)."""
    import importlib.util
    import shutil

    if name == "rapidocr" and importlib.util.find_spec("rapidocr") is None:
        raise ConfigError(
            "RAGD_OCR_ENGINE=rapidocr needs rapidocr: pip install 'rapidocr>=3.10,<3.11' "
            "(or RAGD_OCR_ENGINE=off)"
        )
    if name == "tesseract" and shutil.which("tesseract") is None:
        raise ConfigError(
            "RAGD_OCR_ENGINE=tesseract needs the tesseract program "
            "(Debian: apt-get install tesseract-ocr)"
        )


def assemble(boxes: Sequence[Box]) -> OcrPage:
    """Boxes joined into lines (same band of height, left to right), lines top to bottom.

    Two boxes are on one line when their vertical centres are closer than half the
    smaller box's height: robust to a few degrees of skew, which moves a line's ends by
    less than that over a column's width.
    """
    kept = [b for b in boxes if b.text.strip()]
    if not kept:
        return OcrPage(text="", confidence=None)
    kept.sort(key=lambda b: ((b.top + b.bottom) / 2, b.left))
    lines: list[list[Box]] = []
    for box in kept:
        centre = (box.top + box.bottom) / 2
        if lines:
            last = lines[-1]
            ref = last[-1]
            ref_centre = (ref.top + ref.bottom) / 2
            height = min(box.bottom - box.top, ref.bottom - ref.top)
            if abs(centre - ref_centre) < max(height, 1.0) / 2:
                last.append(box)
                continue
        lines.append([box])
    text = "\n".join(
        " ".join(b.text.strip() for b in sorted(line, key=lambda b: b.left)) for line in lines
    )
    weight = sum(len(b.text.strip()) for b in kept)
    confidence = sum(b.confidence * len(b.text.strip()) for b in kept) / weight
    return OcrPage(text=text, confidence=round(confidence, 4))


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``PageTimeout`` in the body after ``seconds``.

    On the main thread (the parse sandbox's child runs parsers there) a timer signal
    interrupts the engine between its model calls, so a page stops within one call of its
    limit. Elsewhere (``RAGD_PARSE_SANDBOX=false``) signals cannot be used and the limit
    is checked when the page is done; the sandbox's own timeout is the hard stop there.
    """
    started = time.monotonic()
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        if time.monotonic() - started > seconds:
            raise PageTimeout
        return

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise PageTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
