"""The container's parsing half: the parsers, their limits and the parse sandbox, built
from Settings (``RAGD_PARSE_*``, ``RAGD_ARCHIVE_*``, ``RAGD_OCR_*``, ``RAGD_IMAGE*``).

Split from ``container`` by job; like it, one of the few modules allowed to build adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragd.config import Settings
from ragd.ports import Parsing

if TYPE_CHECKING:
    from ragd.adapters.parsers.ocr.bounds import OcrLimits


def build_parsing(settings: Settings) -> Parsing:
    """The parsers, each document parsed in a child process under a memory and a time
    limit (``RAGD_PARSE_*``): a hostile file fails alone instead of taking the worker, or
    the server it runs in, down. One child per worker thread."""
    from ragd.adapters.parsers.archives import ArchiveLimits
    from ragd.adapters.parsers.limits import ParseLimits
    from ragd.adapters.parsers.ocr.embedded import ImageLimits
    from ragd.adapters.parsers.parsing import ParserRegistry

    ingest = settings.ingest
    registry = ParserRegistry(
        ParseLimits(
            archive=ArchiveLimits(
                max_members=ingest.archive_max_members,
                max_inflated_bytes=ingest.archive_max_inflated_bytes,
                max_member_bytes=ingest.archive_max_member_bytes,
                max_ratio=ingest.archive_max_ratio,
            ),
            pdf_max_pages=ingest.pdf_max_pages,
            pdf_max_stream_bytes=ingest.pdf_max_stream_bytes,
            detect_language=ingest.detect_language,
            ocr=build_ocr_limits(settings),
            images=ImageLimits(
                enabled=settings.images.enabled,
                max_per_document=settings.images.max_per_document,
                min_pixels=settings.images.min_pixels,
            ),
        )
    )
    if not ingest.parse_sandbox:
        return registry
    from ragd.adapters.parsers.sandbox import SandboxedParsing

    # The registry, limits included, is pickled to each child: the archive and PDF caps
    # apply inside the sandbox as well.
    memory_mb = ingest.parse_memory_mb
    if memory_mb and settings.ocr.engine != "off":
        memory_mb += settings.ocr.memory_mb  # the OCR engine's models and page buffers
    return SandboxedParsing(
        registry,
        memory_mb=memory_mb,
        timeout_seconds=ingest.parse_timeout_seconds,
        # Per worker: one for the large-document lane, one for its loop (prepare_lane).
        processes=2 * ingest.worker_concurrency,
    )


def build_ocr_limits(settings: Settings) -> OcrLimits:
    """The OCR bounds, the engine checked now rather than at the first scanned page.

    The document's OCR time is kept under the sandbox's parse timeout (less 10% for the
    text layer and the rest of the parse), so that a long scan fails with the OCR bound's
    reason, which names the page it reached, rather than the sandbox's.
    """
    from ragd.adapters.parsers.ocr.bounds import OcrLimits
    from ragd.adapters.parsers.ocr.engines import check_available

    ocr, ingest = settings.ocr, settings.ingest
    if ocr.engine != "off":
        check_available(ocr.engine)
    document_seconds = ocr.document_timeout_seconds
    if ingest.parse_sandbox:
        document_seconds = min(document_seconds, ingest.parse_timeout_seconds * 0.9)
    return OcrLimits(
        engine=ocr.engine,
        dpi=ocr.dpi,
        max_pixels=ocr.max_pixels,
        page_timeout_seconds=ocr.page_timeout_seconds,
        document_timeout_seconds=document_seconds,
        max_pages=ocr.max_pages,
        threads=ocr.threads,
    )
