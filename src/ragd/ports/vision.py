"""Vision port: an image in, a caption out, for image chunks (``RAGD_VISION_PROVIDER``).

OCR reads the words in a picture; a vision model says what the picture shows (a chart's
trend, a photo's subject), which a question may ask about in other words. The caption is
stored in the image chunk's text beside the OCR text, so both are searched and cited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ragd.domain.models import Usage

CAPTION_PROMPT = (
    "Describe this image for a search index in at most three sentences: what it shows, "
    "and for a chart or table its title, axes, and the main figures or trend."
)


@dataclass(frozen=True)
class Caption:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)


class Vision(Protocol):
    """Adapters raise ``BackendUnavailable`` (retryable) or ``ConfigError`` like the LLM
    adapters, and never log images or keys."""

    @property
    def model(self) -> str: ...

    def describe(self, image: bytes, media_type: str) -> Caption: ...
