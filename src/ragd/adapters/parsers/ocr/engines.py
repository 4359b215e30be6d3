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
    """One recognised run of text and where it sits on the page (pixels): its horizontal
    extent, the heights of the middle of its left and right edges (they differ on a skewed
    line), and its height."""

    text: str
    confidence: float
    left: float
    right: float
    y_left: float
    y_right: float
    height: float


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
    """Boxes joined into lines, left to right, and the lines top to bottom.

    A box continues the line whose last box ends left of it and whose right edge is at
    the height of this box's left edge (within half a line's height). Following the line
    from box to box, rather than grouping by height on the page, keeps a skewed line
    together: over a column's width, 2 degrees move its end by more than a line spacing.
    """
    kept = sorted((b for b in boxes if b.text.strip()), key=lambda b: b.left)
    if not kept:
        return OcrPage(text="", confidence=None)
    lines: list[list[Box]] = []
    for box in kept:
        best: list[Box] | None = None
        best_gap = 0.0
        for line in lines:
            ref = line[-1]
            height = max(min(box.height, ref.height), 1.0)
            if box.left < ref.right - height / 2:
                continue  # overlaps the line's end: not its continuation
            gap = abs(box.y_left - ref.y_right)
            if gap < height / 2 and (best is None or gap < best_gap):
                best, best_gap = line, gap
        if best is None:
            lines.append([box])
        else:
            best.append(box)
    lines.sort(key=lambda line: (line[0].y_left, line[0].left))
    return ordered([[(b.text, b.confidence) for b in line] for line in lines])


def ordered(lines: Sequence[Sequence[tuple[str, float]]]) -> OcrPage:
    """A page from lines of ``(text, confidence)`` already in reading order; the page's
    confidence is the mean over its characters."""
    words = [(t.strip(), c) for line in lines for t, c in line if t.strip()]
    if not words:
        return OcrPage(text="", confidence=None)
    text = "\n".join(" ".join(t.strip() for t, _ in line if t.strip()) for line in lines)
    weight = sum(len(t) for t, _ in words)
    return OcrPage(
        text=text.strip(), confidence=round(sum(c * len(t) for t, c in words) / weight, 4)
    )


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
