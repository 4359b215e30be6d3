"""Ingest cost of images in documents: the same PDFs ingested with and without image chunks.

    .venv/bin/python bench/images.py [--docs 200] [--vision-fake]

Each document is a one-page PDF built here: typed text (a SciFact-sized abstract made of
generated sentences) and one embedded chart (900 x 500 pixels) with a line of text drawn
into it, unique per document. Ingested end to end (submit → parse in the sandbox → chunk
→ embed with the shipped MiniLM → index → commit, in-process worker) into fresh data
dirs: ``RAGD_IMAGES_ENABLED=false`` (the text only), ``true`` (OCR of the chart, its
preview and thumbnail stored), and with ``--vision-fake`` also ``true`` with a caption
from the local fake OpenAI server (the wire and the bookkeeping, not a model's time).
Prints docs/s for each, and how many documents found their chart's text by search.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from tests.image_docs import report_pdf

from ragd.config import Settings
from ragd.domain.models import TenantId
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker

WORDS = (
    "cells protein expression levels patients cohort trial dose response receptor binding "
    "mutation pathway signalling inhibitor tumour growth samples analysis significant"
).split()


def documents(n: int) -> list[tuple[bytes, str]]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(14)).capitalize() + "." for _ in range(12)
        ]
        code = f"K{i:04d}"
        out.append(
            (
                report_pdf(
                    photographed=False,
                    typed=" ".join(sentences),
                    chart_text=f"Assay {code} peaked at {100 + i} units",
                ),
                code,
            )
        )
    return out


def run(docs: list[tuple[bytes, str]], **overrides: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ragd-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), **overrides)  # type: ignore[call-arg]
        migrate_database(settings)
        svc = build_services(settings)
        svc.embedder.embed_documents(["warm up the model"])
        tenant = TenantId("bench")
        t0 = time.perf_counter()
        for i, (data, _code) in enumerate(docs):
            svc.ingest.submit_bytes(tenant, data, source=f"doc{i}.pdf")
        build_worker(svc).run(until_idle=True)
        seconds = time.perf_counter() - t0
        found = 0
        for _data, code in docs[:50]:
            hits = svc.search.search(tenant, f"Assay {code}", mode="sparse", k=1).hits
            found += bool(hits) and code in hits[0].text
        svc.close()
    return {
        "seconds": round(seconds, 1),
        "docs_per_s": round(len(docs) / seconds, 2),
        "chart_text_found_top1_of_50": found,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--vision-fake", action="store_true")
    args = ap.parse_args()
    docs = documents(args.docs)
    out: dict[str, Any] = {"documents": len(docs)}
    out["without_images"] = run(docs, images_enabled=False)
    out["with_images"] = run(docs, images_enabled=True)
    if args.vision_fake:
        from tests.fakes.openai_server import FakeOpenAIServer

        with ExitStack() as stack:
            server = stack.enter_context(FakeOpenAIServer(models=None))
            out["with_images_and_fake_vision"] = run(
                docs,
                images_enabled=True,
                vision_provider="openai-compatible",
                vision_model="fake-vision",
                vision_base_url=server.base_url,
            )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
