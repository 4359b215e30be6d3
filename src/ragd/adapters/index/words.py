"""Free text to the query words every index searches for, the same for every backend.

User text never reaches a backend's query syntax as such: it is cut into ``\\w`` word
tokens, lowercased, stopwords dropped and duplicates removed, and each backend turns the
words into its own query (an FTS5 MATCH of quoted strings, Postgres lexemes, Qdrant sparse
terms). Sharing the cut keeps the three rankings comparable.
"""

from __future__ import annotations

import re

MAX_QUERY_TERMS = 32
"""Each OR-ed FTS5 term costs a posting-list scan; a pasted page of text must not turn
one search into hundreds of them. The first distinct terms are kept."""

# A compact English stopword list: words so frequent that OR-ing them into a BM25 query only
# adds work (they match nearly every chunk) while contributing almost nothing to the score.
_STOPWORDS_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves also however may might must shall us whose whether yet etc
    via per upon within without across along among around since though although unless
    versus vs s t d ll m o re ve y let lets get gets got
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"\w+")


def query_words(text: str) -> list[str]:
    """The distinct non-stopword ``\\w`` words of ``text``, lowercased, in order, capped.

    Each becomes one OR-ed FTS5 phrase (``sqlite.fts.fts_match_expression``), and one
    phrase of the in-memory BM25, so both rank the same query.
    """
    words: list[str] = []
    seen: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or word in seen:
            continue
        seen.add(word)
        words.append(word)
        if len(words) >= MAX_QUERY_TERMS:
            break
    return words
