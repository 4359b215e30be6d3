"""Chunker invariants, checked with the real MiniLM tokenizer (tokenizer.json only, no model).

The invariant citations depend on: ``full_text[char_start:char_end] == text`` where
``full_text`` is the sections joined by a blank line (``ParsedDocument.text``).
"""

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragd.adapters.embedder.onnx_minilm import HFTokenizer, load_tokenizer
from ragd.domain.chunking import chunk_sections, sentence_starts
from ragd.domain.models import ChunkDraft, ParsedDocument, Section
from ragd.errors import ConfigError


@pytest.fixture(scope="module")
def tokenizer() -> HFTokenizer:
    return load_tokenizer()


_TOKENIZER = load_tokenizer()  # for hypothesis tests, which cannot take function fixtures


def _section_bounds(sections: list[Section]) -> list[tuple[int, int]]:
    bounds = []
    base = 0
    for section in sections:
        bounds.append((base, base + len(section.text)))
        base += len(section.text) + 2
    return bounds


def assert_invariants(
    sections: list[Section],
    chunks: list[ChunkDraft],
    tokenizer: HFTokenizer,
    max_tokens: int,
    *,
    whole_words: bool = True,
    recount: bool = True,
) -> None:
    """Everything a chunking must satisfy, whatever the input."""
    full = ParsedDocument(sections=sections).text
    bounds = _section_bounds(sections)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(full)
    for chunk in chunks:
        assert chunk.text, chunk
        assert chunk.text.strip(), chunk
        assert full[chunk.char_start : chunk.char_end] == chunk.text
        assert 1 <= chunk.token_count <= max_tokens
        if recount:
            assert tokenizer.count(chunk.text) == chunk.token_count
        # inside exactly one section, with that section's page and headings
        owners = [
            i
            for i, (lo, hi) in enumerate(bounds)
            if lo <= chunk.char_start and chunk.char_end <= hi
        ]
        assert len(owners) == 1, chunk
        lo, hi = bounds[owners[0]]
        assert chunk.page == sections[owners[0]].page
        assert chunk.heading_path == sections[owners[0]].heading_path
        if whole_words:
            assert chunk.char_start == lo or full[chunk.char_start - 1].isspace(), chunk
            assert chunk.char_end == hi or full[chunk.char_end].isspace(), chunk
        for i in range(chunk.char_start, chunk.char_end):
            covered[i] = True
    # nothing but whitespace is left out
    missing = "".join(ch for ch, hit in zip(full, covered, strict=True) if not hit)
    assert not missing.strip(), repr(missing[:200])
    # chunks come in document order and each one reaches further than the last
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start >= previous.char_start
        assert current.char_end > previous.char_end


SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith et al. reported a 3.5-fold increase, e.g. in mice.",
    "Was it reproducible?",
    "Yes!",
    "Fig. 2 shows the dose-response curve for all 12 cohorts (n = 480).",
    "Mitochondrial dysfunction contributes to neurodegeneration in several models.",
    '"Quoted speech ends here." Another sentence follows it.',
    "Results were not significant (p = 0.21), i.e. no effect was seen.",
]


def _long_text(sentences: int, paragraph_every: int = 0) -> str:
    parts = []
    for i in range(sentences):
        parts.append(SENTENCES[i % len(SENTENCES)])
        if paragraph_every and (i + 1) % paragraph_every == 0:
            parts.append("\n\n")
        else:
            parts.append(" ")
    return "".join(parts).strip()


def test_short_section_is_one_chunk_with_exact_offsets(tokenizer: HFTokenizer) -> None:
    sections = [Section("  Hello world.  ", page=3, heading_path=("Intro",))]
    chunks = chunk_sections(sections, tokenizer, max_tokens=32, overlap=4)
    assert len(chunks) == 1
    assert chunks[0].text == "Hello world."
    assert (chunks[0].char_start, chunks[0].char_end) == (2, 14)
    assert chunks[0].page == 3
    assert chunks[0].heading_path == ("Intro",)
    assert chunks[0].token_count == 3


def test_offsets_span_sections_and_skip_blank_ones(tokenizer: HFTokenizer) -> None:
    sections = [
        Section("First section text.", page=1, heading_path=("A",)),
        Section("   \n  ", page=1),
        Section("", page=2),
        Section("Second section text.", page=2, heading_path=("A", "B")),
    ]
    chunks = chunk_sections(sections, tokenizer, max_tokens=16, overlap=2)
    full = ParsedDocument(sections=sections).text
    assert [c.text for c in chunks] == ["First section text.", "Second section text."]
    assert chunks[1].char_start == full.index("Second")
    assert chunks[1].page == 2
    assert chunks[1].heading_path == ("A", "B")
    assert_invariants(sections, chunks, tokenizer, 16)


def test_long_sections_respect_size_and_never_span_sections(tokenizer: HFTokenizer) -> None:
    sections = [
        Section(_long_text(40, paragraph_every=5), page=1, heading_path=("Methods",)),
        Section(_long_text(25), page=2, heading_path=("Results", "Mice")),
        Section(_long_text(3), page=None),
    ]
    chunks = chunk_sections(sections, tokenizer, max_tokens=48, overlap=12)
    assert len(chunks) > 10
    assert {c.page for c in chunks} == {1, 2, None}
    assert_invariants(sections, chunks, tokenizer, 48)


def test_consecutive_chunks_overlap_by_whole_sentences(tokenizer: HFTokenizer) -> None:
    short = "Cells divide. Proteins fold. Genes vary. Mice age. Rats run. Dogs bark."
    text = " ".join([short] * 20)
    sections = [Section(text)]
    chunks = chunk_sections(sections, tokenizer, max_tokens=40, overlap=10)
    assert len(chunks) > 3
    starts = set(sentence_starts(text))
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start < previous.char_end, "no overlap"
        shared = text[current.char_start : previous.char_end]
        assert previous.text.endswith(shared)
        assert 0 < tokenizer.count(shared) <= 10
        # the overlap starts on a sentence start
        assert current.char_start in starts
    assert_invariants(sections, chunks, tokenizer, 40)


def test_no_overlap_when_zero(tokenizer: HFTokenizer) -> None:
    sections = [Section(_long_text(30))]
    chunks = chunk_sections(sections, tokenizer, max_tokens=40, overlap=0)
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start >= previous.char_end
    assert_invariants(sections, chunks, tokenizer, 40)


def test_sentence_longer_than_overlap_is_not_carried(tokenizer: HFTokenizer) -> None:
    long_sentence = "Word " + " ".join(["word"] * 29) + "."
    text = " ".join([long_sentence] * 4)
    chunks = chunk_sections([Section(text)], tokenizer, max_tokens=40, overlap=5)
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start >= previous.char_end


def test_overlap_is_dropped_rather_than_forcing_a_worse_cut(tokenizer: HFTokenizer) -> None:
    # Found by hypothesis: carrying the overlap left no room for the 10-token last word,
    # so the next chunk would have been cut inside it.
    sections = [Section("a. a. a. a. a. aabdjbjbj. ")]
    chunks = chunk_sections(sections, tokenizer, max_tokens=16, overlap=8)
    assert_invariants(sections, chunks, tokenizer, 16)

    # Sentence-aligned: the next 14-token sentence only fits without the overlap, so the
    # chunker starts fresh instead of cutting that sentence in the middle.
    text = "Short one here. " * 3 + "Then a sentence with quite a few more words in it ok."
    sections = [Section(text.strip())]
    chunks = chunk_sections(sections, tokenizer, max_tokens=16, overlap=8)
    assert chunks[-1].text == "Then a sentence with quite a few more words in it ok."
    assert_invariants(sections, chunks, tokenizer, 16)


def test_paragraph_break_preferred_over_later_sentence_break(tokenizer: HFTokenizer) -> None:
    first = "Alpha beta gamma delta. " * 5  # 5 sentences of 5 tokens: 25 tokens
    second = "Epsilon zeta eta theta. " * 8
    text = first.strip() + "\n\n" + second.strip()
    chunks = chunk_sections([Section(text)], tokenizer, max_tokens=40, overlap=0)
    assert chunks[0].text == first.strip()


def test_over_long_sentence_is_cut_between_words(tokenizer: HFTokenizer) -> None:
    words = [f"w{i}x" for i in range(400)]  # no sentence punctuation at all
    text = " ".join(words)
    sections = [Section(text)]
    chunks = chunk_sections(sections, tokenizer, max_tokens=32, overlap=8)
    assert len(chunks) > 5
    assert_invariants(sections, chunks, tokenizer, 32)
    # word-level overlap after a mid-sentence cut
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start < previous.char_end


def test_enormous_wordless_string_terminates(tokenizer: HFTokenizer) -> None:
    """A run with no whitespace at all: cutting inside the 'word' is unavoidable, so the
    chunker falls back to token boundaries (next to punctuation where it can)."""
    # WordPiece maps any word over 100 characters to a single [UNK]: one token, one chunk.
    letters = "a" * 5000
    chunks = chunk_sections([Section(letters)], tokenizer, max_tokens=16, overlap=4)
    assert [(c.char_start, c.char_end, c.token_count) for c in chunks] == [(0, 5000, 1)]

    # Punctuation splits it into thousands of tokens: cuts land next to punctuation.
    dense = "x1,y2;" * 1000
    sections = [Section(dense)]
    chunks = chunk_sections(sections, tokenizer, max_tokens=16, overlap=4)
    assert len(chunks) > 100
    assert_invariants(sections, chunks, tokenizer, 16, whole_words=False)
    for chunk in chunks[:-1]:
        assert not dense[chunk.char_end - 1].isalnum() or not dense[chunk.char_end].isalnum()

    # CJK text has no spaces and every character is a token: any boundary will do.
    cjk = "日本語の文章です" * 300
    sections = [Section(cjk)]
    chunks = chunk_sections(sections, tokenizer, max_tokens=16, overlap=4)
    assert_invariants(sections, chunks, tokenizer, 16, whole_words=False)


def test_unicode_offsets_are_python_string_offsets(tokenizer: HFTokenizer) -> None:
    text = "Café naïve Ünïcödé résumé 😀 emoji. " * 30
    sections = [Section("Préface 日本."), Section(text.strip())]
    chunks = chunk_sections(sections, tokenizer, max_tokens=24, overlap=6)
    assert_invariants(sections, chunks, tokenizer, 24)


def test_sentence_splitter_keeps_abbreviations_and_decimals() -> None:
    text = (
        "Dr. Smith et al. (2019) showed e.g. that 3.5 mg works. The next one! "
        '"Quoted." Another? Fig. 2 shows it, i.e. The U.S. Army. 1999 was fine. lower case.'
    )
    pieces = [text[s : s + 8] for s in sentence_starts(text)]
    assert pieces == ["The next", '"Quoted.', "Another?", "Fig. 2 s", "1999 was"]


def test_invalid_sizes_are_config_errors(tokenizer: HFTokenizer) -> None:
    with pytest.raises(ConfigError):
        chunk_sections([Section("x")], tokenizer, max_tokens=8, overlap=8)
    with pytest.raises(ConfigError):
        chunk_sections([Section("x")], tokenizer, max_tokens=0, overlap=0)
    with pytest.raises(ConfigError):
        chunk_sections([Section("x")], tokenizer, max_tokens=8, overlap=-1)


def test_no_sections_no_chunks(tokenizer: HFTokenizer) -> None:
    assert chunk_sections([], tokenizer, max_tokens=8, overlap=1) == []


# --- property tests -------------------------------------------------------------------

_word = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12)
_sentence = st.builds(
    lambda words, end, cap: (" ".join(words).capitalize() if cap else " ".join(words)) + end,
    st.lists(_word, min_size=1, max_size=30),
    st.sampled_from([".", "!", "?", ",", "", ".", "."]),
    st.booleans(),
)
_separator = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\n \n", "\t"])


@st.composite
def _section_text(draw: st.DrawFn) -> str:
    sentences = draw(st.lists(_sentence, min_size=0, max_size=25))
    out = draw(st.sampled_from(["", " ", "\n"]))
    for sentence in sentences:
        out += sentence + draw(_separator)
    return out


_sections = st.lists(
    st.builds(
        Section,
        _section_text(),
        st.one_of(st.none(), st.integers(1, 50)),
        st.lists(st.sampled_from(["A", "B", "Intro"]), max_size=2).map(tuple),
    ),
    min_size=0,
    max_size=5,
)


@st.composite
def _sizes(draw: st.DrawFn, smallest: int = 16) -> tuple[int, int]:
    # From 16 (the smallest RAGD_CHUNK_TOKENS) a word of up to 12 letters plus its
    # punctuation always fits in one chunk, so no cut inside a word is ever needed.
    max_tokens = draw(st.integers(smallest, 64))
    return max_tokens, draw(st.integers(0, max_tokens - 1))


@settings(max_examples=100, deadline=None)
@given(sections=_sections, sizes=_sizes())
def test_property_invariants_on_worded_text(
    sections: list[Section], sizes: tuple[int, int]
) -> None:
    max_tokens, overlap = sizes
    chunks = chunk_sections(sections, _TOKENIZER, max_tokens=max_tokens, overlap=overlap)
    assert_invariants(sections, chunks, _TOKENIZER, max_tokens)


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(max_size=400), max_size=4),
    sizes=_sizes(smallest=1),
)
def test_property_slice_invariant_on_arbitrary_unicode(
    texts: list[str], sizes: tuple[int, int]
) -> None:
    """Any text at all (control characters, surrogates-free unicode, no spaces): the slice
    invariant and the size bound hold, and chunking terminates."""
    max_tokens, overlap = sizes
    sections = [Section(t) for t in texts]
    chunks = chunk_sections(sections, _TOKENIZER, max_tokens=max_tokens, overlap=overlap)
    full = ParsedDocument(sections=sections).text
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert full[chunk.char_start : chunk.char_end] == chunk.text
        assert 1 <= chunk.token_count <= max_tokens
        assert chunk.text.strip()
