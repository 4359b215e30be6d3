"""Captions for image sections: the vision model's description put in front of the OCR
text, so a question in other words than the picture's own finds it.

A caption is an enrichment, not a requirement: a vision call that fails leaves that image,
and the rest of its document's, with their OCR text (logged; one failed call per document
at most, so a dead server costs one ``RAGD_VISION_TIMEOUT_SECONDS``), and the document is
indexed as it would be with no vision model; a dead vision server never fails ingestion.
Tokens and cost are counted as an LLM call's are (``ragd_llm_tokens_total``,
``genai_cost_total_dollars``, a ``cost_event`` log line with ``purpose="vision"``).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ragd.domain.models import ParsedDocument, Section, TenantId
from ragd.domain.pricing import PriceTable
from ragd.errors import RagdError
from ragd.observability import metrics
from ragd.observability.logging import get_logger
from ragd.ports.vision import Caption, Vision

log = logging.getLogger("ragd.images")
costs = get_logger("ragd.cost")

CAPTION_PREFIX = "Image: "


def captioned(
    parsed: ParsedDocument,
    vision: Vision,
    tenant: TenantId,
    prices: PriceTable | None = None,
) -> ParsedDocument:
    """``parsed`` with each image section's text led by its image's caption (metadata
    ``caption_model`` says which model wrote it)."""
    captions: dict[str, str] = {}
    for image in parsed.images:
        try:
            caption = vision.describe(image.data, image.media_type)
        except RagdError as exc:
            # Once per document: a server that is down, slow or refusing the key would
            # fail (and make the worker wait for) every other image of it too.
            log.warning(
                "vision caption failed (%s): this document's images keep their OCR text only",
                exc,
            )
            break
        _account(tenant, caption, prices or PriceTable({}))
        if caption.text:
            captions[image.key] = caption.text
    if not captions:
        return parsed
    sections: list[Section] = []
    for s in parsed.sections:
        key = s.metadata.get("image")
        text = captions.get(str(key)) if s.metadata.get("kind") == "image" else None
        if text is None:
            sections.append(s)
            continue
        body = f"{CAPTION_PREFIX}{text}" + (f"\n\n{s.text}" if s.text.strip() else "")
        meta = {**s.metadata, "caption_model": vision.model}
        sections.append(replace(s, text=body, metadata=meta))
    return replace(parsed, sections=sections)


def _account(tenant: TenantId, caption: Caption, prices: PriceTable) -> None:
    prompt, completion = caption.usage.prompt_tokens, caption.usage.completion_tokens
    if not prompt and not completion:
        return
    metrics.LLM_TOKENS.labels(caption.model, "prompt").inc(prompt)
    metrics.LLM_TOKENS.labels(caption.model, "completion").inc(completion)
    cost = prices.cost(caption.model, prompt, completion)
    metrics.COST_DOLLARS.labels(tenant).inc(cost)
    costs.info(
        "cost_event",
        tenant_id=tenant,
        purpose="vision",
        model=caption.model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
    )
