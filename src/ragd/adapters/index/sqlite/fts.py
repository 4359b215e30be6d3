"""Free text to a safe FTS5 MATCH expression.

User text never reaches FTS5's query syntax: it is cut into the shared query words
(``index.words``), each quoted as its own string, so operators (``AND``, ``NEAR``,
``col:``, ``*``, ``"``) are just words. Terms are OR-ed, because FTS5's implicit AND drops
every chunk that lacks any single query word and ruins recall for natural-language
questions.
"""

from __future__ import annotations

from ragd.adapters.index.words import query_words


def fts_match_expression(text: str) -> str | None:
    """A safe FTS5 MATCH string for free text, or None when nothing is left to search.

    Every term is a quoted string built from ``\\w`` characters only, so no user text can
    reach FTS5's query syntax (``AND``, ``NEAR``, ``col:``, ``*``, ``"``...). Terms are
    OR-ed: FTS5's implicit AND would drop every chunk lacking any single query word.
    """
    terms = [f'"{word}"' for word in query_words(text)]
    return " OR ".join(terms) if terms else None
