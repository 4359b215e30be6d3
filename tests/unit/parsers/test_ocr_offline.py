"""The OCR engine loads and reads with the network refused: its models come from the
``rapidocr`` wheel and nothing is fetched, cached or written at run time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragd.adapters.parsers.ocr.rapid import DET_MODEL, REC_MODEL, model_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import socket, sys

attempts = []

def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                 "urllib.Request"):
        attempts.append(event)
        raise OSError(f"network refused by the test: {event}")

sys.addaudithook(refuse)

from ragd.adapters.parsers.ocr.engines import get_engine
from tests.ocr_samples import Sample, render

page = get_engine("rapidocr", 1).read(
    render(Sample("Offline model check 4711", "vera-sans", 36)), timeout=300
)
print("TEXT:", page.text)
print("ATTEMPTS:", attempts)
"""


def listing(folder: Path) -> set[tuple[str, int, float]]:
    return {(str(p), p.stat().st_size, p.stat().st_mtime) for p in folder.rglob("*")}


def test_the_models_ship_in_the_wheel() -> None:
    for name in (DET_MODEL, REC_MODEL):
        model = model_dir() / name
        assert model.is_file() and model.stat().st_size > 1_000_000, model
    assert "site-packages" in str(model_dir()) or "dist-packages" in str(model_dir())


def test_the_engine_loads_and_reads_with_the_network_refused(tmp_path: Path) -> None:
    package = model_dir().parent
    before = listing(package)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "HTTP_PROXY": "http://127.0.0.1:9",  # should anything bypass the hook: a dead end
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }

    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "TEXT: Offline model check 4711" in done.stdout, done.stdout
    assert "ATTEMPTS: []" in done.stdout, done.stdout
    assert listing(package) == before  # nothing downloaded next to the models
    # Nothing cached in the home directory but ONNX Runtime's device id (a local file
    # every ONNX session writes, the embedder's too): no model, no download.
    ort = home / ".cache" / "Microsoft" / "DeveloperTools" / ".onnxruntime"
    written = {p for p in home.rglob("*") if p.is_file()}
    assert {p for p in written if p.parent != ort} == set(), written
