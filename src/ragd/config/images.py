"""Images inside documents: which become image chunks, and the vision model that captions them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragd.config.section import Section, env

VisionProvider = Literal["none", "openai", "openai-compatible", "anthropic", "ollama"]


class ImageSettings(Section):
    """The bounds of ``ragd.adapters.parsers.ocr.embedded``."""

    enabled: bool = Field(validation_alias="images_enabled")
    max_per_document: int = Field(validation_alias="image_max_per_document")
    min_pixels: int = Field(validation_alias="image_min_pixels")


class VisionSettings(Section):
    """The captioning model (``ragd.ports.vision``); ``provider == "none"``: OCR only."""

    provider: VisionProvider = Field(validation_alias="vision_provider")
    model: str | None = Field(validation_alias="vision_model")
    base_url: str | None = Field(validation_alias="vision_base_url")
    max_tokens: int = Field(validation_alias="vision_max_tokens")
    timeout_seconds: float = Field(validation_alias="vision_timeout_seconds")


class ImageFields(BaseModel):
    """The environment variables of ``ImageSettings`` and ``VisionSettings``."""

    images_enabled: bool = Field(
        True, validation_alias=env("RAGD_IMAGES_ENABLED", "MULTIMODAL_ENABLED")
    )
    """Images embedded in PDF, DOCX and PPTX files become image chunks (their OCR text,
    and a caption when a vision model is set), and image files' pages image chunks with
    a preview; ``false``: only their documents' text, image files read by OCR alone."""
    image_max_per_document: int = Field(
        50, ge=0, le=10_000, validation_alias=env("RAGD_IMAGE_MAX_PER_DOCUMENT")
    )
    """Embedded images read from one file; the rest are skipped (the text still counts)."""
    image_min_pixels: int = Field(16_384, ge=1, validation_alias=env("RAGD_IMAGE_MIN_PIXELS"))
    """An embedded image with fewer pixels (128 x 128) is an icon or a rule, not read."""
    vision_provider: VisionProvider = Field("none", validation_alias=env("RAGD_VISION_PROVIDER"))
    """Who captions image chunks: ``openai`` / ``openai-compatible`` (chat completions
    with an ``image_url`` data URI), ``anthropic`` (Messages, a base64 image source),
    ``ollama`` (``/api/chat`` with ``images``) or ``none`` (OCR text only)."""
    vision_model: str | None = Field(
        None, validation_alias=env("RAGD_VISION_MODEL", "VISION_MODEL")
    )
    vision_base_url: str | None = Field(None, validation_alias=env("RAGD_VISION_BASE_URL"))
    """The provider's URL; unset: the LLM settings' for that provider (``LLM_BASE_URL``,
    ``ANTHROPIC_BASE_URL``, ``OLLAMA_URL``), else its public one."""
    vision_max_tokens: int = Field(
        300, ge=16, le=4096, validation_alias=env("RAGD_VISION_MAX_TOKENS")
    )
    vision_timeout_seconds: float = Field(
        60.0, gt=0, validation_alias=env("RAGD_VISION_TIMEOUT_SECONDS")
    )

    @property
    def images(self) -> ImageSettings:
        return ImageSettings.of(self)

    @property
    def vision(self) -> VisionSettings:
        return VisionSettings.of(self)
