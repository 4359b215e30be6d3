"""``ragd eval`` with the title/heading prefix left out of the embedded text (bench only).

    .venv/bin/python bench/eval_no_title_prefix.py ../shared/data/covidqa-dev \\
        --data-dir FRESH_DIR --no-answers --json

Takes ``ragd eval``'s arguments. The chunks stay the same (their token budget still leaves
room for the title), so next to a plain ``ragd eval`` on a fresh data dir it measures what
the prefix is worth (bench/README.md, issue 22 item 3). Needs a fresh data dir: an index
built with the prefix would be reused as it is.
"""

from __future__ import annotations

import sys

import ragd.services.indexing as indexing
from ragd.cli.main import app
from ragd.domain.models import Chunk, ChunkDraft, Document


def _text_only(_document: Document, draft: ChunkDraft | Chunk) -> str:
    return draft.text


if __name__ == "__main__":
    indexing.embedding_text = _text_only  # looked up at call time by the worker
    sys.argv = ["ragd", "eval", *sys.argv[1:]]
    app()
