"""Fuzz every parser for a while: generated and mutated files, each parsed in a child
process under a memory and a time limit (the CI test's harness, with a larger budget).

    PYTHONPATH=src .venv/bin/python bench/fuzz_parsers.py --seconds 600
    PYTHONPATH=src .venv/bin/python bench/fuzz_parsers.py --seconds 120 --kinds pdf docx

Prints, per parser, examples run, examples/s and the outcomes; any input that makes a
parser raise something other than ``DocumentRejected``, answer with jargon, die, overrun
its time or its memory is printed (shrunk by Hypothesis) and saved under ``--out``.
Exit status 1 when anything was found.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.security

from hypothesis import HealthCheck, given, settings
from tests.security.parse_in_child import ParserChild
from tests.security.parser_fuzzing import MEDIA_TYPES, inputs

ROUND = 200  # examples per Hypothesis run; runs repeat until the budget is spent


def fuzz(kind: str, child: ParserChild, seconds: float, peak_mb: float, out: Path) -> bool:
    counts: collections.Counter[str] = collections.Counter()
    found: list[str] = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    @settings(
        max_examples=ROUND, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(data=inputs(kind))
    def run(data: bytes) -> None:
        if time.monotonic() > deadline:
            return
        outcome = child.parse(data, MEDIA_TYPES[kind])
        counts[outcome.kind] += 1
        if not outcome.bounded or outcome.peak_rss_mb > peak_mb:
            name = out / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
            name.write_bytes(data)
            raise AssertionError(f"{outcome} (input saved as {name})")

    while time.monotonic() < deadline:
        try:
            run()
        except AssertionError as exc:
            found.append(str(exc))
            print(f"  {kind}: FOUND {exc}", flush=True)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{kind:9} {total:7} examples  {total / elapsed:7.1f}/s  ({shown})", flush=True)
    return not found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="total budget")
    parser.add_argument("--kinds", nargs="*", default=sorted(MEDIA_TYPES))
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=20.0, help="per input, seconds")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ragd-fuzz"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    share = args.seconds / len(args.kinds)
    ok = True
    with ParserChild(memory_mb=args.memory_mb, timeout_s=args.timeout) as child:
        for kind in args.kinds:
            ok &= fuzz(kind, child, share, peak_mb=args.memory_mb * 0.75, out=args.out)
    print("nothing found" if ok else f"failures found: inputs under {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
