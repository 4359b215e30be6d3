"""OCR engines compared: character error rate and pages/s, and the two page rasterisers.

    PYTHONPATH=src .venv/bin/python bench/ocr.py                 # both engines, full grid
    PYTHONPATH=src .venv/bin/python bench/ocr.py --quick         # 1 size, 3 fonts
    PYTHONPATH=src .venv/bin/python bench/ocr.py --engines rapidocr

Pages are rendered from known text (``tests/ocr_samples.py``: reportlab's fonts, several
pixel sizes, straight, skewed 2 degrees, and noised) and read by each engine as ragd reads
them (``get_engine``, ``RAGD_OCR_THREADS`` threads); CER is the edit distance over the
text's length, whitespace folded. Throughput is measured on full letter pages at 200 dpi
(about 2,800 characters each) with the process pinned to 2 cores, as wall time and as CPU
time (the machines here are shared, so wall time says as much about the neighbours). The
rasteriser part renders pages of a scanned PDF with pypdfium2 (one open document, as ragd
does) and with
pdfplumber's ``Page.to_image``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.ocr_samples

from tests.ocr_samples import FONTS, PARAGRAPHS, Sample, cer, render, scanned_pdf

from ragd.adapters.parsers.ocr.bounds import OcrLimits
from ragd.adapters.parsers.ocr.engines import get_engine
from ragd.adapters.parsers.ocr.pdf_pages import render_scale

CONDITIONS = {"clean": (0.0, 0.0), "skew 2°": (2.0, 0.0), "noise": (0.0, 0.5)}
SIZES = (20, 28, 40)  # pixels: about 7, 10 and 14 pt at 200 dpi
TEXT = "\n".join(PARAGRAPHS[:2])
FULL_PAGE = "\n".join(PARAGRAPHS * 3)


def accuracy(engine_name: str, fonts: list[str], sizes: tuple[int, ...], threads: int) -> None:
    engine = get_engine(engine_name, threads)
    by: dict[str, list[float]] = defaultdict(list)
    worst = (0.0, "")
    for font in fonts:
        for size in sizes:
            for condition, (skew, noise) in CONDITIONS.items():
                sample = Sample(TEXT, font, size, skew=skew, noise=noise)
                page = engine.read(render(sample), timeout=600)
                error = cer(TEXT, page.text)
                for key in ("all", f"condition {condition}", f"font {font}", f"size {size}px"):
                    by[key].append(error)
                worst = max(worst, (error, sample.label))
    print(f"\n{engine_name}: CER over {len(by['all'])} pages (mean / max)")
    for key, values in by.items():
        print(f"  {key:<22} {statistics.mean(values):.4f} / {max(values):.4f}")
    print(f"  worst page: {worst[1]} ({worst[0]:.4f})")


def throughput(engine_name: str, pages: int, threads: int) -> None:
    engine = get_engine(engine_name, threads)
    images = [render(Sample(FULL_PAGE, "vera-sans", 28), seed=i) for i in range(pages)]
    engine.read(images[0], timeout=600)  # warm: sessions built, memory arenas grown
    errors = []
    started, cpu = time.perf_counter(), cpu_seconds()
    for image in images:
        errors.append(cer(FULL_PAGE, engine.read(image, timeout=600).text))
    seconds = time.perf_counter() - started
    cpu_per_page = (cpu_seconds() - cpu) / pages
    print(
        f"\n{engine_name}: {pages} full pages ({images[0].width}x{images[0].height} px) in "
        f"{seconds:.1f} s wall = {pages / seconds:.2f} pages/s here; "
        f"{cpu_per_page:.2f} CPU-s/page (this process and its children) = "
        f"{2 / cpu_per_page:.2f} pages/s on 2 idle cores; CER {statistics.mean(errors):.4f}"
    )


def cpu_seconds() -> float:
    """CPU time of this process and its finished children: what a page costs, unlike
    wall time, whatever else the machine is running."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_time(engine_name: str, threads: int) -> None:
    started = time.perf_counter()
    engine = get_engine(engine_name, threads)
    engine.read(render(Sample("warm up", "vera-sans", 28)), timeout=600)
    print(f"{engine_name}: loaded and first page read in {time.perf_counter() - started:.2f} s")


def rasterisers(pages: int) -> None:
    import pdfplumber
    import pypdfium2 as pdfium

    data = scanned_pdf(pages, Sample(TEXT, "vera-sans", 28))
    limits = OcrLimits()
    pdf = pdfium.PdfDocument(data)
    started = time.perf_counter()
    for i in range(pages):
        page = pdf[i]
        bitmap = page.render(scale=render_scale(*page.get_size(), limits), grayscale=True)
        bitmap.to_pil().copy()
        bitmap.close()
        page.close()
    pdfium_s = (time.perf_counter() - started) / pages
    pdf.close()
    with pdfplumber.open(io.BytesIO(data)) as doc:
        started = time.perf_counter()
        for page in doc.pages[:pages]:
            page.to_image(resolution=limits.dpi).original.copy()
            page.close()
        plumber_s = (time.perf_counter() - started) / pages
    print(
        f"\nrasterise {pages} pages at {limits.dpi} dpi (one {len(data):,}-byte PDF): "
        f"pypdfium2 {pdfium_s * 1000:.0f} ms/page, pdfplumber to_image "
        f"{plumber_s * 1000:.0f} ms/page"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["rapidocr", "tesseract"])
    parser.add_argument("--quick", action="store_true", help="one size, three fonts")
    parser.add_argument("--pages", type=int, default=6, help="full pages for pages/s")
    parser.add_argument("--threads", type=int, default=OcrLimits().threads)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    print(f"cores: {len(os.sched_getaffinity(0))}, threads per page: {args.threads}")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    fonts = list(FONTS)[:3] if args.quick else list(FONTS)
    sizes = (28,) if args.quick else SIZES
    rasterisers(pages=10)
    for name in args.engines:
        load_time(name, args.threads)
        accuracy(name, fonts, sizes, args.threads)
        throughput(name, args.pages, args.threads)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
