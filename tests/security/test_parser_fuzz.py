"""Every parser fuzzed: returns sections or refuses with a sentence, within limits.

Generated and mutated files (``parser_fuzzing``) go to one child process that parses
under ``RLIMIT_AS`` and a per-file time limit (``parse_in_child``); a file that makes a
parser raise anything but ``DocumentRejected``, answer with jargon, die or overrun is a
failure that Hypothesis shrinks and prints. The budget here is small (CI); the long run
is ``bench/fuzz_parsers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.security.parse_in_child import ParserChild
from tests.security.parser_fuzzing import MEDIA_TYPES, inputs

MEMORY_MB = 1024
TIMEOUT_S = 20.0
PEAK_MB = 768  # the child's high-water mark above its imports, over all inputs
EXAMPLES = {"pdf": 400, "docx": 400, "zip": 400}  # the rest: 500; the file runs in < 60 s
# Office formats parse in tens of milliseconds each: smaller budgets keep them near 10 s each.
EXAMPLES.update(
    {"xlsx": 100, "ods": 200, "csv": 300, "pptx": 80, "epub": 200, "eml": 300, "msg": 100}
)


@pytest.fixture(scope="module")
def child() -> Iterator[ParserChild]:
    with ParserChild(memory_mb=MEMORY_MB, timeout_s=TIMEOUT_S) as c:
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(MEDIA_TYPES))
def test_parser_returns_sections_or_a_sentence(kind: str, child: ParserChild) -> None:
    @settings(
        max_examples=EXAMPLES.get(kind, 500),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=inputs(kind))
    def run(data: bytes) -> None:
        outcome = child.parse(data, MEDIA_TYPES[kind])
        assert outcome.bounded, outcome
        assert outcome.peak_rss_mb < PEAK_MB, outcome

    run()
