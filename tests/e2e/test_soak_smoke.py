"""``bench/soak.py`` for half a minute: the soak's harness and its no-error criterion.

The 30-minute run (figures in bench/README.md) is what judges memory growth; half a minute
is too short for a steady state, so this run allows more growth and checks the rest: every
kind of request was sent and answered as intended, no descriptor or thread piled up, and
both tenants were still answered at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.slow


def test_a_short_soak_passes(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "soak.py"),
            "--duration", "30", "--warmup", "10", "--rate", "5", "--docs", "5",
            "--embedding", "hashing-64", "--max-rss-growth", "30", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert done.returncode == 0, figures["failures"]
    assert figures["requests"] > 100, figures
    ops = figures["by_op"]
    for op in ("upload", "delete", "search", "query", "stream", "list"):
        assert op in ops, ops
    assert figures["unexpected"] == [] and figures["final_query_statuses"] == [200, 200]
    assert figures["series"] and {"rss_mb", "fds", "threads"} <= set(figures["series"][-1])
