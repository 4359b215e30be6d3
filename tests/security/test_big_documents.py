"""A huge single-paragraph document is chunked in bounded memory.

Each measurement runs the parser and the chunker in a child Python process and reads that
process's own peak RSS (``VmHWM``: ``ru_maxrss`` would carry the test runner's peak
across exec), so nothing else the test runner holds counts. The
child caps its address space too, so a regression fails with a MemoryError instead of
taking the machine's memory.

The same 45 MB paragraph through a live server (upload, parse, chunk, embed, store, with
``/health`` and the server's RSS watched) is part of ``test_hostile_server.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    """
    import json, random, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    from ragd.adapters.embedder.onnx_minilm import load_tokenizer
    from ragd.adapters.parsers import parse_document
    from ragd.domain.chunking import chunk_sections

    size = int(sys.argv[1])
    words = ("the of and to in a is that for it as was with be by on not this are or "
             "from at which mitochondrial dysfunction neurodegeneration cohort").split()
    rng = random.Random(17)
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))).capitalize()
                 + "." for _ in range(400)]
    block = (" ".join(sentences) + " ").encode()
    data = (block * (size // len(block) + 1))[:size]
    del block
    tokenizer = load_tokenizer()
    tokenizer.count("warm up")
    def hwm_kb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    before = hwm_kb()
    started = time.monotonic()
    parsed = parse_document(data, "text/plain", source="big.txt")
    del data
    chunks = chunk_sections(parsed.sections, tokenizer, max_tokens=246, overlap=32)
    peak = hwm_kb()
    print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024,
                      "chunks": len(chunks), "seconds": time.monotonic() - started}))
    """
)


def _chunk_in_child(size: int, timeout: float = 300) -> dict[str, float]:
    """Parse and chunk ``size`` bytes of one plain-text paragraph in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(size)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["chunks"] > size / 2000  # it really chunked the whole text
    return result


MB = 1_000_000


@pytest.mark.slow
def test_chunking_memory_does_not_grow_with_the_paragraph() -> None:
    """2 MB and 8 MB of one paragraph: the peak differs by little more than the text and
    its chunks (which the caller keeps), not by the ~170 bytes per byte that tokenising a
    section in one piece costs."""
    small = _chunk_in_child(2 * MB)
    large = _chunk_in_child(8 * MB)
    growth = large["peak_mb"] - small["peak_mb"]
    # 6 MB more input: the text, its chunks' text (with overlap) and their objects.
    assert growth < 60, (small, large)
    assert large["peak_mb"] - large["before_mb"] < 120, large


@pytest.mark.slow
def test_45_mb_paragraph_chunks_under_600_mb() -> None:
    """The issue's file: 45 MB of one paragraph, under the 50 MiB upload limit."""
    result = _chunk_in_child(45 * MB)
    assert result["peak_mb"] < 600, result
