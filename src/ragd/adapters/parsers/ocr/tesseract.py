"""Tesseract (Debian's ``tesseract-ocr``) run as a program, one page per call.

A subprocess rather than a binding: the page's time limit is a plain ``timeout`` that
kills it, and its memory is under the parse sandbox's limit, which children inherit.
Words come back as TSV with a confidence each (0-100), in Tesseract's reading order.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

from ragd.adapters.parsers.ocr.engines import OcrPage, PageTimeout, ordered
from ragd.errors import ConfigError, DocumentRejected

if TYPE_CHECKING:
    from PIL.Image import Image

LANGUAGE = "eng"


def binary() -> str | None:
    return shutil.which("tesseract")


class TesseractEngine:
    name = "tesseract"

    def __init__(self, *, threads: int) -> None:
        found = binary()
        if found is None:
            raise ConfigError(
                "RAGD_OCR_ENGINE=tesseract needs the tesseract program "
                "(Debian: apt-get install tesseract-ocr)"
            )
        self._binary = found
        self._env = {**os.environ, "OMP_THREAD_LIMIT": str(max(threads, 1))}

    def read(self, image: Image, *, timeout: float) -> OcrPage:
        png = io.BytesIO()
        image.convert("L").save(png, format="PNG")
        try:
            done = subprocess.run(
                [self._binary, "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "tsv"],
                input=png.getvalue(),
                capture_output=True,
                timeout=max(timeout, 0.01),
                env=self._env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PageTimeout from exc
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise DocumentRejected(f"tesseract could not read a page: {' '.join(detail)}")
        return _page(done.stdout.decode("utf-8", "replace"))


def _page(tsv: str) -> OcrPage:
    """Tesseract's words in its own reading order (block, paragraph, line, word): its
    layout analysis deskews the page, so its order is kept rather than rebuilt from
    positions."""
    lines: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text or float(row["conf"]) < 0:
            continue
        key = (row["block_num"], row["par_num"], row["line_num"])
        lines.setdefault(key, []).append((text, float(row["conf"]) / 100))
    return ordered(list(lines.values()))
