"""FTS5's own tokenizer, usable from Python, so the in-memory BM25 sees FTS5's exact terms.

The in-memory keyword index (``sqlite/memory/postings.py``) must split, fold and stem text
exactly as the ``fts_chunks`` table does, or its rankings would drift from FTS5's BM25 (and
from the FTS5 fallback path). Re-implementing unicode61 + porter in Python would be close but not
equal, so text is run through a private in-memory FTS5 table with the same tokenizer and
read back through ``fts5vocab``: whatever FTS5 would index, this returns.

Reading ``fts5vocab`` costs ~3 us a token, so text is first cut at whitespace (always a
separator for unicode61, and porter stems each token on its own): a whitespace-free piece
always yields the same tokens, so pieces are remembered and only unseen ones go through
FTS5. Natural text repeats its pieces; once warm, most chunks never reach SQLite.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

TOKENIZE = "porter unicode61 remove_diacritics 2"
"""The tokenizer of ``fts_chunks``; the in-memory index must use the very same one."""

TITLE, TEXT = 0, 1
"""Column numbers of ``fts_chunks`` (and of the term frequencies returned here)."""

_SEP = "\x00"  # a separator for unicode61, so never inside a token

PIECE_CACHE_SIZE = 200_000
"""Distinct whitespace-free pieces remembered (~40 MB at most); cleared when full."""


@dataclass(frozen=True)
class ChunkTerms:
    """One chunk's terms: their frequencies in the title and in the text column."""

    title: dict[str, int]
    text: dict[str, int]

    @property
    def length(self) -> int:
        """Tokens in title + text, FTS5's document length for BM25."""
        return sum(self.title.values()) + sum(self.text.values())

    @property
    def frequencies(self) -> dict[str, tuple[int, int]]:
        """Per term: (title frequency, text frequency)."""
        out = {t: (n, self.text.get(t, 0)) for t, n in self.title.items()}
        for t, n in self.text.items():
            if t not in self.title:
                out[t] = (0, n)
        return out


class Fts5Tokenizer:
    """Tokenizes with FTS5 through a private in-memory database (thread-safe)."""

    def __init__(self, cache_size: int = PIECE_CACHE_SIZE) -> None:
        import sqlean  # type: ignore[import-untyped]

        self._lock = threading.Lock()
        self._cache_size = cache_size
        self._pieces: dict[str, tuple[str, ...]] = {}
        self._joined: dict[str, str] = {}  # piece -> its tokens joined by _SEP
        self._conn = sqlean.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._conn.execute(
            f"CREATE VIRTUAL TABLE tok USING fts5(text, tokenize='{TOKENIZE}', content='')"
        )
        self._conn.execute("CREATE VIRTUAL TABLE tok_vocab USING fts5vocab(tok, 'instance')")

    def chunks(self, texts: Sequence[tuple[str, str]]) -> list[ChunkTerms]:
        """Terms of each ``(title, text)`` pair, as FTS5 indexes them."""
        split = [(title.split(), text.split()) for title, text in texts]
        with self._lock:
            self._learn([p for pair in split for column in pair for p in column])
            return [ChunkTerms(self._count(title), self._count(text)) for title, text in split]

    def query_word(self, word: str) -> tuple[str, ...]:
        """The tokens FTS5 makes of one query word (usually one; none; or a phrase)."""
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"not a single word: {word!r}")
        with self._lock:
            self._learn([word])
            return self._pieces[word]

    def _learn(self, pieces: list[str]) -> None:
        """Tokenize the pieces not seen yet, in one FTS5 batch (lock held)."""
        unseen = list(set(pieces).difference(self._pieces))
        if not unseen:
            return
        if len(self._pieces) + len(unseen) > self._cache_size:
            self._pieces.clear()
            self._joined.clear()
            unseen = list(set(pieces))
        for piece, tokens in zip(unseen, self._fts5(unseen), strict=True):
            self._pieces[piece] = tokens
            self._joined[piece] = _SEP.join(tokens)

    def _count(self, pieces: list[str]) -> Counter[str]:
        """Token counts of one column (lock held, every piece learnt).

        Pieces are mapped to their tokens joined by NUL (never part of a token) and
        counted in C; only the few distinct keys that are not exactly one token are
        then split in Python.
        """
        counts = Counter(map(self._joined.__getitem__, pieces))
        odd = [key for key in counts if not key or _SEP in key]
        for key in odd:
            n = counts.pop(key)
            for token in key.split(_SEP) if key else ():
                counts[token] += n
        return counts

    def _fts5(self, pieces: list[str]) -> list[tuple[str, ...]]:
        tokens: list[list[tuple[int, str]]] = [[] for _ in pieces]
        try:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT INTO tok (rowid, text) VALUES (?, ?)", list(enumerate(pieces))
            )
            for doc, term, offset in self._conn.execute("SELECT doc, term, offset FROM tok_vocab"):
                tokens[doc].append((offset, term))
        finally:
            self._conn.execute("ROLLBACK")
        return [tuple(term for _, term in sorted(found)) for found in tokens]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
