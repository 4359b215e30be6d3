"""Server-sent events, as OpenAI-style servers and Anthropic stream their answers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event in ``lines`` (already split, no newlines).

    Follows the SSE rules that matter here: ``data:`` lines of one event are joined with
    newlines, an empty line ends the event, comment lines (``:``) and the ``event``,
    ``id`` and ``retry`` fields are ignored, one space after the colon is dropped.
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
