"""Captions put in image sections: the caption leads the OCR text, sections that are not
images are untouched, a failing vision model is called once per document and leaves the
OCR text, and tokens are counted."""

from __future__ import annotations

from ragd.domain.models import DocumentImage, ParsedDocument, Section, TenantId, Usage
from ragd.errors import BackendUnavailable
from ragd.observability import metrics
from ragd.ports.vision import Caption
from ragd.services.images import captioned


class Scripted:
    model = "vis"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def describe(self, image: bytes, media_type: str) -> Caption:
        self.calls += 1
        if self.fail:
            raise BackendUnavailable("vision: timed out")
        return Caption(f"a chart of {len(image)} bytes", "vis", Usage(40, 7))


def doc() -> ParsedDocument:
    return ParsedDocument(
        sections=[
            Section("typed text", page=1),
            Section("OCR one", page=1, metadata={"kind": "image", "image": "1"}),
            Section("", page=2, metadata={"kind": "image", "image": "2"}),
        ],
        images=[DocumentImage("1", b"abc"), DocumentImage("2", b"abcdef")],
    )


def test_captions_lead_the_ocr_text_of_their_own_image() -> None:
    vision = Scripted()
    before = metrics.LLM_TOKENS.labels("vis", "completion")._value.get()
    out = captioned(doc(), vision, TenantId("t"))
    texts = [s.text for s in out.sections]
    assert texts == [
        "typed text",
        "Image: a chart of 3 bytes\n\nOCR one",
        "Image: a chart of 6 bytes",
    ]
    assert out.sections[1].metadata["caption_model"] == "vis"
    assert "caption_model" not in out.sections[0].metadata
    assert metrics.LLM_TOKENS.labels("vis", "completion")._value.get() - before == 14


def test_a_failing_model_is_called_once_and_leaves_the_ocr_text() -> None:
    vision = Scripted(fail=True)
    parsed = doc()
    assert captioned(parsed, vision, TenantId("t")) is parsed
    assert vision.calls == 1
