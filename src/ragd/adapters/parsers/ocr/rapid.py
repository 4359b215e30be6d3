"""RapidOCR: PaddleOCR's PP-OCRv6 detection and recognition models on ONNX Runtime.

The ``rapidocr`` wheel ships the small multilingual PP-OCRv6 models inside the package;
they are named here by path, so the library never takes its download branch (it fetches
models it does not find, which an offline server must never try:
``tests/unit/test_ocr.py`` loads and runs it with sockets refused). The text-line angle
classifier is off: it only matters for lines upside down, and costs a model call per line.

Memory, measured on a full 200-dpi page: with the library's defaults the process peaks
near 900 MB; one line per recognition call brings it near 620 MB, no slower. One line per
call also lets a page's time limit interrupt between lines. (Detection on a smaller image,
1280 pixels a side, saves another 100 MB but lost lines of 20-pixel text.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragd.adapters.parsers.ocr.engines import Box, OcrPage, assemble, time_limit
from ragd.errors import ConfigError

if TYPE_CHECKING:
    from PIL.Image import Image

DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"


def model_dir() -> Path:
    """Where the wheel put its models (raises ``ConfigError`` when it is not installed)."""
    try:
        import rapidocr
    except ImportError as exc:
        raise ConfigError(
            "RAGD_OCR_ENGINE=rapidocr needs rapidocr: pip install 'rapidocr>=3.10,<3.11'"
        ) from exc
    return Path(rapidocr.__file__).parent / "models"


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, *, threads: int) -> None:
        root = model_dir()
        for model in (DET_MODEL, REC_MODEL):
            if not (root / model).is_file():
                raise ConfigError(f"the rapidocr package has no {model} in {root}")
        from rapidocr import RapidOCR

        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._ocr: Any = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.model_path": str(root / DET_MODEL),
                "Rec.model_path": str(root / REC_MODEL),
                "Rec.rec_batch_num": 1,
                "EngineConfig.onnxruntime.intra_op_num_threads": max(threads, 1),
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def read(self, image: Image, *, timeout: float) -> OcrPage:
        import numpy as np

        pixels = np.asarray(image.convert("RGB"))
        try:
            with time_limit(timeout):
                result = self._ocr(pixels)
        except Exception as exc:
            # ONNX Runtime reports an allocation that the parse sandbox's memory cap
            # refused as a RuntimeException; it is a memory failure and is named as one.
            if "bad_alloc" in str(exc) or "Failed to allocate" in str(exc):
                raise MemoryError(str(exc)[:200]) from exc
            raise
        if result.boxes is None or result.txts is None or result.scores is None:
            return OcrPage(text="", confidence=None)
        boxes = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
            # Corners clockwise from the top left: the left edge is 0-3, the right 1-2.
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ((float(x), float(y)) for x, y in quad)
            boxes.append(
                Box(
                    text=str(text),
                    confidence=float(score),
                    left=min(x0, x3),
                    right=max(x1, x2),
                    y_left=(y0 + y3) / 2,
                    y_right=(y1 + y2) / 2,
                    height=((y3 - y0) + (y2 - y1)) / 2,
                )
            )
        return assemble(boxes)
