"""Storing a huge document's chunks costs bounded memory (issue 17, the write path).

Parsing and chunking were bounded first; then the write transaction that stores the chunks
and their index entries (``Store.replace_chunks``, ``SqliteIndex.upsert_document``) was the
hole: it tokenized every chunk of the document at once for the terms table, holding every
word as a Python string and every chunk's term counts as a dict, ~22 bytes per byte of text
(279 MB more at the peak of a 12 MB paragraph's commit). It now writes in batches.

Measured in a child process: the indexing service parses, chunks and embeds (hashing
embedder: the model is not the question) one paragraph, and the peak RSS added while its
commit runs is read from ``/proc/self/status`` (``VmHWM`` reset just before the commit).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads /proc"),
]

_CHILD = textwrap.dedent(
    """
    import gc, json, random, sys, tempfile
    from pathlib import Path
    from ragd.config import Settings
    from ragd.domain.models import DEFAULT_TENANT
    from ragd.services.container import build_services, migrate_database

    def status(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise SystemExit(f"no {field}")

    size = int(sys.argv[1])
    words = "the of and to in a is that for it as was with be by on not this are or".split()
    words += [f"term{i}" for i in range(3000)]  # a vocabulary, as real text has
    rng = random.Random(5)
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 25))).capitalize()
                 + "." for _ in range(2000)]
    block = (" ".join(sentences) + " ").encode()
    data = (block * (size // len(block) + 1))[:size]
    del block
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=None,
                        embedding_model="hashing-64")
    migrate_database(settings)
    services = build_services(settings)
    indexing = services.indexing
    measured = {}
    commit = indexing.commit

    def measured_commit(*args):
        gc.collect()
        measured["before_mb"] = status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        commit(*args)
        measured["peak_mb"] = status("VmHWM")

    indexing.commit = measured_commit
    submitted = services.submissions.submit_bytes(DEFAULT_TENANT, data, source="big.txt")
    del data
    jobs = services.queue.claim("w", limit=1, lease_seconds=600)
    indexing.process(jobs, "w")
    doc = services.store.get_document(DEFAULT_TENANT, submitted.document.id)
    services.close()
    print(json.dumps({**measured, "status": doc.status.value, "chunks": doc.chunk_count}))
    """
)


def test_committing_a_big_paragraph_adds_little_memory() -> None:
    """4 MB of one paragraph (~2,200 chunks): the commit's peak adds ~10 MB, not the
    ~54 MB that tokenizing every chunk at once for the terms table cost."""
    size = 4_000_000
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(size)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "indexed", result
    assert result["chunks"] > size / 2000, result
    added = result["peak_mb"] - result["before_mb"]
    # ~2 bytes per byte of text at most: the batches' rows, terms and SQLite's pages.
    assert added < 8 * size / 1e6, result
