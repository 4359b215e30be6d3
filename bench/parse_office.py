"""Parse cost of large spreadsheets, CSV files and hostile office files, one per fresh child.

    PYTHONPATH=src .venv/bin/python bench/parse_office.py
    PYTHONPATH=src .venv/bin/python bench/parse_office.py --rows 20000

Each file is built by the real libraries (``tests/office_files.py``) and parsed by
``parse_document`` in a fresh child process under ``RLIMIT_AS`` (``--memory-mb``) and a
time limit (``tests/security/parse_in_child.py``), which reports the seconds and the
child's peak RSS above its level after imports. Then the rows are laid out and chunked as
the worker does (MiniLM's tokenizer, 256-token chunks) and that time is printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from tests import office_files
from tests.security.parse_in_child import parse_once

from ragd.adapters.embedder.onnx_minilm import load_tokenizer
from ragd.adapters.parsers import parse_document
from ragd.adapters.parsers.csv_tables import CSV
from ragd.adapters.parsers.xlsx import XLSX
from ragd.domain.chunking import chunk_sections


def _csv(rows: int) -> bytes:
    lines = ["sku,warehouse,bin,quantity,description"]
    lines += [
        f"SKU-{i:07d},Depot {i % 7},B{i % 97},{i * 3},Spare part number {i}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-mb", type=int, default=1024)
    args = parser.parse_args()
    files = {
        f"xlsx, {args.rows:,} rows x 4": (office_files.big_sheet(args.rows), XLSX),
        f"csv, {args.rows * 5:,} rows x 5": (_csv(args.rows * 5), CSV),
        "xlsx, 400,000 formatted empty rows": (
            office_files.xlsx_empty_formatted_rows(400_000),
            XLSX,
        ),
        "xlsx, 1,000,000 formatted empty rows": (
            office_files.xlsx_empty_formatted_rows(1_000_000),
            XLSX,
        ),
        "xlsx bomb (1 GiB of spaces)": (office_files.xlsx_bomb(1024), XLSX),
        "csv, one 10 MB line": (b"a,b\n" + b"x," * (5 * 1024 * 1024) + b"\n", CSV),
    }
    tokenizer = load_tokenizer()
    print(
        f"{'file':40} {'MB':>7} {'outcome':>9} {'parse s':>8} {'peak MB':>8} {'chunk s':>8} chunks"
    )
    for name, (data, media_type) in files.items():
        outcome = parse_once(data, media_type, memory_mb=args.memory_mb, timeout_s=120)
        chunking = ""
        if outcome.kind == "parsed":
            doc = parse_document(data, media_type, source=name)
            started = time.perf_counter()
            chunks = chunk_sections(doc.sections, tokenizer, max_tokens=256, overlap=32)
            chunking = f"{time.perf_counter() - started:8.2f} {len(chunks):,}"
        print(
            f"{name:40} {len(data) / 1e6:7.2f} {outcome.kind:>9} {outcome.seconds:8.2f} "
            f"{outcome.peak_rss_mb:8.0f} {chunking}"
        )
        if outcome.kind != "parsed":
            print(f"    {outcome.detail[:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
