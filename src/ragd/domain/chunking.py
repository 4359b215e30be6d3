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
* A table is laid out first (``domain.tables``): cut into pieces of whole rows, each
  under the table's header and small enough for one chunk, so a row is never split across
  chunks and every chunk of a table says what its columns are. The full text is then that
  of the laid-out sections (the header once per piece); without tables it is
  ``ParsedDocument.text``.

The module is pure: no I/O, no model, no heavy NLP dependency.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ragd.domain.models import ChunkDraft, Section
from ragd.domain.tables import lay_out_tables
from ragd.errors import ConfigError


class SpanTokenizer(Protocol):
    """What chunking needs of a tokenizer: where its tokens fall in the text. The
    embedder port's ``Tokenizer`` extends it, so the domain depends on no port."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token of ``text``, special tokens excluded."""
        ...


WINDOW_CHARS = 65_536
"""Most text tokenised at once: the tokenizer's memory grows with what it is given
(~170 bytes per character for MiniLM's), so a long section is read window by window."""
_WINDOW_SPACES = (" ", "\n", "\t", "\r", "\u3000", "\xa0")

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
    sections: Sequence[Section],
    tokenizer: SpanTokenizer,
    *,
    max_tokens: int,
    overlap: int,
    window_chars: int = WINDOW_CHARS,
) -> list[ChunkDraft]:
    """Chunks of at most ``max_tokens`` tokens, ordinals ``0..n-1`` in document order.

    ``char_start``/``char_end`` index the document's full text (the sections, tables laid
    out by ``lay_out_tables``, joined by a blank line), so
    ``full_text[c.char_start:c.char_end] == c.text`` for every chunk.
    ``window_chars`` bounds how much text is tokenised at once (tests make it small).
    """
    if max_tokens < 1:
        raise ConfigError(f"chunk size must be at least 1 token, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ConfigError(f"chunk overlap must be in [0, {max_tokens}) tokens, got {overlap}")
    if window_chars < 2:
        raise ConfigError(f"chunking window must be at least 2 characters, got {window_chars}")
    chunks: list[ChunkDraft] = []
    base = 0
    for section in lay_out_tables(sections, tokenizer, max_tokens=max_tokens):
        text = section.text
        if text and not text.isspace():
            chunker = _SectionChunker(text, tokenizer, max_tokens, overlap, window_chars)
            last_end = 0
            for start, end, count in chunker.chunks():
                piece = text[start:end]
                # A character the tokenizer splits into several tokens (a Hangul syllable
                # in MiniLM's WordPiece: three tokens with one span) can be cut between its
                # tokens when chunks are only a few tokens long; a chunk that ends where the
                # previous one did repeats text it adds nothing to, so it is left out.
                if not piece.strip() or end <= last_end:
                    continue
                last_end = end
                chunks.append(
                    ChunkDraft(
                        ordinal=len(chunks),
                        text=piece,
                        char_start=base + start,
                        char_end=base + end,
                        token_count=count,
                        page=section.page,
                        heading_path=section.heading_path,
                        metadata=section.metadata,
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
    return list(_iter_sentence_starts(text))


def _iter_sentence_starts(text: str) -> Iterator[int]:
    """``sentence_starts`` one at a time, so a long section never holds them all."""
    for match in _SENTENCE_END.finditer(text):
        following = match.group(1)
        if not (following.isupper() or following.isdigit()):
            continue
        if text[match.start()] == "." and _is_abbreviation(text, match.start()):
            continue
        yield match.end()


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
    """Greedy packing of one section's tokens into chunks, reading the section window by
    window.

    Tokens are numbered across the whole section; only those from the current chunk's
    start onwards are held (``_spans[i - _offset]`` is token ``i``), and more text is
    tokenised when a decision needs a token beyond them. Every decision looks at most
    ``2 * max_tokens`` tokens ahead of the chunk it is cutting, so the chunks are exactly
    those of tokenising the whole section at once, as long as the windows end where the
    tokenizer would split anyway: in whitespace (the pre-tokenisers of every supported
    tokenizer split there). The paragraph and sentence breaks are found by regular
    expressions over the whole section text, consumed lazily as the tokens reach them.
    """

    def __init__(
        self,
        text: str,
        tokenizer: SpanTokenizer,
        max_tokens: int,
        overlap: int,
        window_chars: int,
    ) -> None:
        self._text = text
        self._tokenizer = tokenizer
        self._max = max_tokens
        self._overlap = overlap
        self._window = window_chars
        self._spans: list[tuple[int, int]] = []
        self._starts: list[int] = []  # the held tokens' start offsets, for bisect
        self._offset = 0  # index of the first held token
        self._read_to = 0  # characters of text tokenised so far
        self._done = False  # the whole section is tokenised: the token count is known
        self._paragraph_positions = _Peekable(m.end() for m in _PARAGRAPH_BREAK.finditer(text))
        self._sentence_positions = _Peekable(_iter_sentence_starts(text))
        # Token indices (strictly inside the section) where a paragraph / a sentence or a
        # paragraph starts, from the first held token on.
        self._paragraphs: list[int] = []
        self._sentences: list[int] = []

    # -- the token window ----------------------------------------------------------
    def _held(self) -> int:
        """One past the last token read so far."""
        return self._offset + len(self._spans)

    def _span(self, index: int) -> tuple[int, int]:
        return self._spans[index - self._offset]

    def _ensure(self, index: int) -> None:
        """Read windows until token ``index`` is held or the section is exhausted."""
        while not self._done and self._held() <= index:
            self._read_window()

    def _read_window(self) -> None:
        begin = self._read_to
        end = _window_end(self._text, begin, self._window)
        spans = self._tokenizer.token_spans(self._text[begin:end])
        if begin:
            spans = [(start + begin, stop + begin) for start, stop in spans]
        self._spans += spans
        self._starts += [start for start, _ in spans]
        self._read_to = end
        self._done = end >= len(self._text)
        self._map_breaks()

    def _map_breaks(self) -> None:
        """Turn the break positions the tokens now reach into token indices: the first
        token at or after each position, once that token is known (or known not to
        exist), kept only strictly inside the section."""
        if not self._spans:
            return
        reach = len(self._text) if self._done else self._starts[-1]
        paragraphs = self._token_breaks(self._paragraph_positions, reach, self._paragraphs)
        sentences = self._token_breaks(self._sentence_positions, reach, self._sentences)
        self._paragraphs += paragraphs
        self._sentences += sorted(set(paragraphs).union(sentences))

    def _token_breaks(self, positions: _Peekable, reach: int, known: list[int]) -> list[int]:
        found: list[int] = []
        last = known[-1] if known else 0
        total = self._held()
        while (position := positions.peek()) is not None and position <= reach:
            next(positions)
            index = self._offset + bisect_left(self._starts, position)
            if max(0, last) < index < total:
                found.append(index)
                last = index
        return found

    def _forget_before(self, index: int) -> None:
        """Drop the tokens and breaks before token ``index`` (kept in batches, so a
        section costs linear time)."""
        drop = index - self._offset
        if drop < 4096:
            return
        del self._spans[:drop]
        del self._starts[:drop]
        self._offset = index
        for breaks in (self._paragraphs, self._sentences):
            del breaks[: bisect_left(breaks, index)]

    # -- packing -------------------------------------------------------------------
    def chunks(self) -> Iterator[tuple[int, int, int]]:
        """``(char_start, char_end, token_count)`` of each chunk, each at most
        ``max_tokens`` long; every one ends after the previous one, so the loop always
        advances."""
        self._ensure(0)
        if not self._spans:
            return
        start = 0
        previous_end = 0
        while True:
            end, quality = self._chunk_end(start, previous_end)
            yield self._span(start)[0], self._span(end - 1)[1], end - start
            if quality == _SECTION_END:
                return
            start = self._next_start(start, end, quality)
            previous_end = end
            self._forget_before(start - 1)

    def _chunk_end(self, start: int, previous_end: int) -> tuple[int, int]:
        """End of the chunk starting at token ``start`` and its cut quality; it must end
        after ``previous_end``. Since ``previous_end - start <= overlap < max_tokens``,
        the window ``[previous_end + 1, start + max_tokens]`` is never empty."""
        limit = start + self._max
        self._ensure(limit)
        if limit >= self._held():
            return self._held(), _SECTION_END
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
        gap = self._text[self._span(index - 1)[1] : self._span(index)[0]]
        return any(ch.isspace() for ch in gap)

    def _touches_punctuation(self, index: int) -> bool:
        """A cut here keeps both sides' tokens intact for BERT-style pre-tokenisers, which
        split punctuation into tokens of its own."""
        before_end = self._span(index - 1)[1]
        after_start = self._span(index)[0]
        if after_start > before_end:
            return True
        before = self._text[before_end - 1] if before_end > 0 else " "
        after = self._text[after_start] if after_start < len(self._text) else " "
        return not before.isalnum() or not after.isalnum()


class _Peekable:
    """An iterator of positions with a look at the next one."""

    def __init__(self, items: Iterable[int]) -> None:
        self._items = iter(items)
        self._next: int | None = next(self._items, None)

    def peek(self) -> int | None:
        return self._next

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> int:
        if self._next is None:
            raise StopIteration
        value = self._next
        self._next = next(self._items, None)
        return value


def _window_end(text: str, begin: int, size: int) -> int:
    """Where the window of text starting at ``begin`` ends: within ``size`` characters, at
    the start of the last run of whitespace in its second half, so that no token (and no
    whitespace run, which some tokenizers read as one token) straddles two windows. Text
    with no whitespace in that half is cut at ``size``: only a run of more than
    ``size / 2`` characters without a space can be tokenised differently than in one piece.
    """
    limit = begin + size
    if limit >= len(text):
        return len(text)
    lowest = begin + size // 2
    cut = max(text.rfind(space, lowest, limit) for space in _WINDOW_SPACES)
    if cut < lowest:
        return limit
    while cut > lowest and text[cut - 1].isspace():
        cut -= 1
    return cut


def _last_in(sorted_values: list[int], lowest: int, highest: int) -> int | None:
    """The largest value in ``[lowest, highest]`` of a sorted list, if any."""
    index = bisect_left(sorted_values, highest + 1) - 1
    if index >= 0 and sorted_values[index] >= lowest:
        return sorted_values[index]
    return None
