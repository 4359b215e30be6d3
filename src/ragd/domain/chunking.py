"""Split parsed sections into embedding-sized chunks that can be cited exactly.

Why it works the way it does:

* Sizes are counted in the embedder's own tokens (a ``SpanTokenizer``, which the
  embedder's ``Tokenizer`` satisfies), because the model truncates what it cannot read: a
  chunk sized in characters or words could lose its tail silently.
* Each section is tokenised once; every decision after that works on the token spans
  (character offsets), so chunking costs one tokeniser pass per document and never
  re-tokenises candidate pieces. Ingest throughput is dominated by the model, not this.
* A chunk's text is always ``full_text[char_start:char_end]`` where ``full_text`` is
  ``"\\n\\n".join(section.text for section in sections)`` (``ParsedDocument.text``):
  citations are verified against exactly that slice. Chunks start at their first token and
  end at their last, so they carry no leading or trailing whitespace.
* Cuts prefer structure: a paragraph break (when it leaves the chunk at least half full),
  else a sentence break, else a gap between tokens that holds whitespace (never mid-word),
  else a token boundary next to punctuation, else any token boundary. The last two only
  happen inside a run of more than ``max_tokens`` tokens with no whitespace at all, where
  a cut inside that "word" is unavoidable.
* Consecutive chunks of a section overlap: after a sentence-aligned cut the next chunk
  repeats the whole trailing sentences that fit in ``overlap`` tokens (none if the last
  sentence alone is longer); after a cut inside an over-long sentence it repeats the
  trailing words that fit. A chunk never spans two sections, so each keeps its page and
  heading path.

The module is pure: no I/O, no model, no heavy NLP dependency.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Protocol

from ragd.domain.models import ChunkDraft, Section
from ragd.errors import ConfigError


class SpanTokenizer(Protocol):
    """What chunking needs of a tokenizer: where its tokens fall in the text. The
    embedder port's ``Tokenizer`` extends it, so the domain depends on no port."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token of ``text``, special tokens excluded."""
        ...


SECTION_SEPARATOR = "\n\n"
"""What ``ParsedDocument.text`` puts between sections; char offsets depend on it."""

_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
# Terminal punctuation (plus closing quotes/brackets) and whitespace; the match ends where
# the next sentence starts. Its first word character (after any opening quotes/brackets)
# is captured and checked in code.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]*(\w))")
_DOTTED_ACRONYM = re.compile(r"(?:[^\W\d_]\.){2,}")
_ABBREVIATIONS = frozenset(
    {
        "al.", "approx.", "ca.", "cf.", "ch.", "co.", "corp.", "dept.", "dr.", "eq.",
        "eqs.", "fig.", "figs.", "inc.", "jr.", "ltd.", "mr.", "mrs.", "ms.", "mt.", "no.",
        "nos.", "p.", "pp.", "prof.", "ref.", "refs.", "resp.", "sec.", "sr.", "st.",
        "suppl.", "tab.", "vol.", "vs.",
    }
)  # fmt: skip
_LEADING_PUNCT = "\"'\u201c\u2018(["

# Cut qualities, best last: why a chunk ends where it does.
_TOKEN = 0  # any token boundary, inside a run of characters with no whitespace
_PUNCTUATION = 1  # a token boundary next to punctuation, still no whitespace
_WORD = 2  # between two words of a sentence too long for one chunk
_SENTENCE = 3  # a sentence or paragraph boundary
_SECTION_END = 4  # the rest of the section fits


def chunk_sections(
    sections: Sequence[Section], tokenizer: SpanTokenizer, *, max_tokens: int, overlap: int
) -> list[ChunkDraft]:
    """Chunks of at most ``max_tokens`` tokens, ordinals ``0..n-1`` in document order.

    ``char_start``/``char_end`` index the document's full text (sections joined by a blank
    line), so ``full_text[c.char_start:c.char_end] == c.text`` for every chunk.
    """
    if max_tokens < 1:
        raise ConfigError(f"chunk size must be at least 1 token, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ConfigError(f"chunk overlap must be in [0, {max_tokens}) tokens, got {overlap}")
    chunks: list[ChunkDraft] = []
    base = 0
    for section in sections:
        text = section.text
        spans = tokenizer.token_spans(text) if text.strip() else []
        if spans:
            for first, last in _SectionChunker(text, spans, max_tokens, overlap).ranges():
                start, end = spans[first][0], spans[last - 1][1]
                piece = text[start:end]
                if not piece.strip():
                    continue
                chunks.append(
                    ChunkDraft(
                        ordinal=len(chunks),
                        text=piece,
                        char_start=base + start,
                        char_end=base + end,
                        token_count=last - first,
                        page=section.page,
                        heading_path=section.heading_path,
                    )
                )
        base += len(text) + len(SECTION_SEPARATOR)
    return chunks


def sentence_starts(text: str) -> list[int]:
    """Character offsets where a new sentence begins (its first non-space character;
    the first sentence of ``text`` is not listed).

    A light rule-based splitter: terminal punctuation followed by whitespace and an
    uppercase letter, a digit or an opening quote/bracket; not after common abbreviations
    ("e.g.", "i.e.", "et al.", "Fig.", "Dr.", ...) or initials. Decimals never match
    because no whitespace follows their dot.
    """
    starts: list[int] = []
    for match in _SENTENCE_END.finditer(text):
        following = match.group(1)
        if not (following.isupper() or following.isdigit()):
            continue
        if text[match.start()] == "." and _is_abbreviation(text, match.start()):
            continue
        starts.append(match.end())
    return starts


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the word ending with the period at ``dot`` is an abbreviation or initial."""
    begin = dot
    while begin > 0 and dot - begin < 32 and not text[begin - 1].isspace():
        begin -= 1
    word = text[begin : dot + 1].lstrip(_LEADING_PUNCT).lower()
    if word in _ABBREVIATIONS:
        return True
    if len(word) == 2 and word[0].isalpha():  # an initial: "J. Smith"
        return True
    return _DOTTED_ACRONYM.fullmatch(word) is not None  # "e.g.", "i.e.", "u.s."


class _SectionChunker:
    """Greedy packing of one section's tokens into ``[first, last)`` token ranges."""

    def __init__(
        self, text: str, spans: list[tuple[int, int]], max_tokens: int, overlap: int
    ) -> None:
        self._text = text
        self._spans = spans
        self._n = len(spans)
        self._max = max_tokens
        self._overlap = overlap
        token_starts = [start for start, _ in spans]
        self._paragraphs = self._token_breaks(
            token_starts, (m.end() for m in _PARAGRAPH_BREAK.finditer(text))
        )
        self._sentences = sorted(
            set(self._paragraphs).union(self._token_breaks(token_starts, sentence_starts(text)))
        )

    def _token_breaks(self, token_starts: list[int], char_positions: Iterable[int]) -> list[int]:
        """Token indices (strictly inside the section) of the first token at or after
        each character position."""
        breaks: list[int] = []
        for position in char_positions:
            index = bisect_left(token_starts, position)
            if 0 < index < self._n and (not breaks or breaks[-1] != index):
                breaks.append(index)
        return breaks

    def ranges(self) -> list[tuple[int, int]]:
        """Token ranges of the chunks, each at most ``max_tokens`` long; every one ends
        after the previous one, so the loop always advances."""
        out: list[tuple[int, int]] = []
        start = 0
        previous_end = 0
        while True:
            end, quality = self._chunk_end(start, previous_end)
            out.append((start, end))
            if end >= self._n:
                return out
            start = self._next_start(start, end, quality)
            previous_end = end

    def _chunk_end(self, start: int, previous_end: int) -> tuple[int, int]:
        """End of the chunk starting at token ``start`` and its cut quality; it must end
        after ``previous_end``. Since ``previous_end - start <= overlap < max_tokens``,
        the window ``[previous_end + 1, start + max_tokens]`` is never empty."""
        limit = start + self._max
        if limit >= self._n:
            return self._n, _SECTION_END
        return self._cut(start, previous_end + 1, limit)

    def _cut(self, start: int, lowest: int, limit: int) -> tuple[int, int]:
        """Best cut in ``[lowest, limit]``, with its quality."""
        paragraph = _last_in(self._paragraphs, lowest, limit)
        if paragraph is not None and paragraph - start >= self._max // 2:
            return paragraph, _SENTENCE
        sentence = _last_in(self._sentences, lowest, limit)
        if sentence is not None:
            return sentence, _SENTENCE
        punctuation: int | None = None
        for index in range(limit, lowest - 1, -1):
            if self._has_whitespace_before(index):
                return index, _WORD
            if punctuation is None and self._touches_punctuation(index):
                punctuation = index
        if punctuation is not None:
            return punctuation, _PUNCTUATION
        return limit, _TOKEN

    def _next_start(self, start: int, cut: int, quality: int) -> int:
        """Where the chunk after ``[start, cut)`` starts: up to ``overlap`` tokens back,
        on a sentence start (a word start after a cut inside a sentence).

        The overlap is shortened, down to none, when carrying it would force the next
        chunk into a worse cut (mid-sentence or mid-word) than starting fresh at ``cut``:
        repeating context is worth less than keeping sentences and words whole.
        """
        if self._overlap == 0:
            return cut
        threshold = max(start + 1, cut - self._overlap)
        if quality >= _SENTENCE:
            first = bisect_left(self._sentences, threshold)
            last = bisect_left(self._sentences, cut)
            candidates: Iterable[int] = self._sentences[first:last]
        else:
            candidates = (i for i in range(threshold, cut) if self._has_whitespace_before(i))
        target: int | None = None
        for candidate in candidates:
            if target is None:
                target = min(self._chunk_end(cut, cut)[1], _SENTENCE)
            if self._chunk_end(candidate, cut)[1] >= target:
                return candidate
        return cut

    def _has_whitespace_before(self, index: int) -> bool:
        gap = self._text[self._spans[index - 1][1] : self._spans[index][0]]
        return any(ch.isspace() for ch in gap)

    def _touches_punctuation(self, index: int) -> bool:
        """A cut here keeps both sides' tokens intact for BERT-style pre-tokenisers, which
        split punctuation into tokens of its own."""
        before_end = self._spans[index - 1][1]
        after_start = self._spans[index][0]
        if after_start > before_end:
            return True
        before = self._text[before_end - 1] if before_end > 0 else " "
        after = self._text[after_start] if after_start < len(self._text) else " "
        return not before.isalnum() or not after.isalnum()


def _last_in(sorted_values: list[int], lowest: int, highest: int) -> int | None:
    """The largest value in ``[lowest, highest]`` of a sorted list, if any."""
    index = bisect_left(sorted_values, highest + 1) - 1
    if index >= 0 and sorted_values[index] >= lowest:
        return sorted_values[index]
    return None
