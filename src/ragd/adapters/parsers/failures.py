"""Turn a library's exception into a short phrase for a rejection message."""

from __future__ import annotations


def describe(exc: BaseException, *, limit: int = 200) -> str:
    """``Type: message`` cut to ``limit`` characters: enough to act on, never a dump."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:limit]
