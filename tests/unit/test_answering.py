"""The answer path without I/O: sentences, citation checking, the extractive answerer,
the prompt budget and the in-process cache."""

from __future__ import annotations

import time

from ragd.adapters.cache.memory import MemoryCache
from ragd.adapters.llm.extractive import ExtractiveLLM
from ragd.domain.models import Hit, TenantId
from ragd.domain.text import content_terms, split_sentences
from ragd.ports.llm import ChatMessage, Completion, GenerationRequest
from ragd.services.citations import check_citations
from ragd.services.prompting import REMINDER, PromptBuilder


def hit(text: str, n: int = 0, char_start: int = 100, page: int | None = None) -> Hit:
    return Hit(
        chunk_id=f"c{n}",
        document_id=f"d{n}",
        title=f"Doc {n}",
        source=f"s{n}",
        text=text,
        score=1.0,
        page=page,
        heading_path=(),
        char_start=char_start,
        char_end=char_start + len(text),
        metadata={},
    )


BEES = hit(
    "Honeybees dance to share food sources. The duration of the waggle run encodes the "
    "distance to the flowers. The angle encodes the direction.",
    0,
)
TIDES = hit("Tides are caused by the gravity of the Moon. Spring tides follow full moons.", 1)


def test_sentences_keep_offsets_and_abbreviations() -> None:
    text = "See Fig. 2 for details. Smith et al. agree! Next one?\n\nLast line"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "See Fig. 2 for details.",
        "Smith et al. agree!",
        "Next one?",
        "Last line",
    ]
    assert all(text[s.start : s.end] == s.text for s in sentences)


def test_content_terms_drop_stopwords_and_stem() -> None:
    assert content_terms("The proteins were folding in the cells") == ["protein", "fold", "cell"]


def test_supported_citation_gets_its_quote_and_document_offsets() -> None:
    answer = "The waggle run duration encodes the distance to flowers [1]."
    checked = check_citations(answer, [BEES, TIDES], min_support=0.5)
    (c,) = checked.citations
    assert c.n == 1 and c.supported and c.document_id == "d0"
    assert c.quote.startswith("The duration of the waggle run")
    start = c.quote_start - BEES.char_start
    assert BEES.text[start : start + len(c.quote)] == c.quote
    assert c.quote_end - c.quote_start == len(c.quote)


def test_citation_to_a_passage_that_does_not_support_is_flagged() -> None:
    checked = check_citations(
        "The waggle run encodes distance [2].", [BEES, TIDES], min_support=0.5
    )
    (c,) = checked.citations
    assert c.n == 2 and not c.supported and c.support < 0.5
    assert "[2]" in checked.text


def test_citation_numbers_that_name_no_passage_are_removed() -> None:
    checked = check_citations("Tides follow the Moon [7]. Really [1].", [TIDES], min_support=0.5)
    assert checked.dropped == 1 and "[7]" not in checked.text
    assert [c.n for c in checked.citations] == [1]


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    text = "Tides are caused by the gravity of the Moon. [2] The waggle run encodes distance. [1]"
    checked = check_citations(text, [BEES, TIDES], min_support=0.5)
    assert [(c.n, c.supported) for c in checked.citations] == [(2, True), (1, True)]


def test_extractive_answer_quotes_matching_sentences_and_always_verifies() -> None:
    llm = ExtractiveLLM()
    request = GenerationRequest(
        messages=[],
        question="What does the waggle run duration encode?",
        passages=[TIDES.text, BEES.text],
    )
    completion = llm.complete(request)
    assert "duration of the waggle run encodes the distance" in completion.text
    assert "[2]" in completion.text and "Tides" not in completion.text
    checked = check_citations(completion.text, [TIDES, BEES], min_support=1.0)
    assert checked.citations and all(c.supported for c in checked.citations)


def test_extractive_stream_concatenates_to_the_completion() -> None:
    request = GenerationRequest(messages=[], question="what causes tides", passages=[TIDES.text])
    pieces = list(ExtractiveLLM().stream(request))
    *deltas, final = pieces
    assert isinstance(final, Completion) and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == final.text and "[1]" in final.text


class _TinyLLM:
    """A 300-token model: the budget arithmetic is what is under test here."""

    model = "tiny"
    context_window = 300

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_prompt_fits_the_context_and_repeats_the_rule_after_the_question() -> None:
    long = hit(" ".join(["word"] * 400), 2)
    builder = PromptBuilder(_TinyLLM(), max_passages=5, max_tokens=100, temperature=0.0)  # type: ignore[arg-type]
    history = [ChatMessage("user", "earlier question"), ChatMessage("assistant", "earlier answer")]
    plan = builder.build("What causes tides?", [TIDES, long, BEES], history)
    user = plan.request.messages[-1].content
    total = sum(len(m.content.split()) for m in plan.request.messages)
    assert total + 100 <= 300
    assert user.rstrip().endswith(REMINDER)
    assert user.index("Question: What causes tides?") < user.index(REMINDER)
    assert plan.passages[0] is TIDES and "[1] Doc 1" in user
    assert plan.passages[1] is long and plan.request.passages[1].endswith("…")  # cut to fit
    assert len(plan.passages) == 2  # no room left for the third
    assert [m.role for m in plan.request.messages] == ["system", "user", "assistant", "user"]


def test_memory_cache_ttl_tenant_invalidation_and_copies() -> None:
    cache = MemoryCache(ttl_seconds=0.2, max_size=10)
    a, b = TenantId("a"), TenantId("b")
    cache.set(a, "k", {"v": [1]})
    cache.set(b, "k", {"v": [2]})
    got = cache.get(a, "k")
    assert got == {"v": [1]}
    got["v"].append(99)  # type: ignore[index]
    assert cache.get(a, "k") == {"v": [1]}  # callers cannot corrupt stored entries
    cache.invalidate_tenant(a)
    assert cache.get(a, "k") is None and cache.get(b, "k") == {"v": [2]}
    time.sleep(0.25)
    assert cache.get(b, "k") is None
    off = MemoryCache(ttl_seconds=0, max_size=10)
    off.set(a, "k", {"v": 1})
    assert off.get(a, "k") is None


def test_headline_is_a_short_first_line_or_nothing() -> None:
    from ragd.domain.text import HEADLINE_MAX_CHARS, headline

    assert headline("\n  Functional  Variants in DC-SIGNR\n\nAbstract: ...") == (
        "Functional Variants in DC-SIGNR"
    )
    assert headline("Oneword\nmore") is None
    assert headline("x " * HEADLINE_MAX_CHARS) is None
    assert headline("") is None
