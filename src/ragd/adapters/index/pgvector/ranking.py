"""How the pgvector index's keyword side ranks: ``ts_rank`` weights per label (title A,
text D), length normalisation, and how many rows one sparse search may score. Tuned
values with the data they were measured on; ``index.py`` applies them.
"""

from __future__ import annotations

import math

from ragd.errors import ConfigError

SPARSE_WEIGHTS = (0.8, 0.0, 0.0, 1.0)
"""``ts_rank`` weights (each in [0, 1]) for labels {D, C, B, A}: text is D, title A. A
title word counts 1.25 times a text word: SciFact test nDCG@10 0.6867, against 0.6843
with equal weights, 0.6703 at 1.67x and 0.6771 with the title below the text."""


def title_rank_weights(title_weight: float) -> tuple[float, float, float, float]:
    """``ts_rank`` weights {D, C, B, A} that make a title word count ``title_weight``
    text words (``RAGD_BM25_TITLE_WEIGHT``); each weight must stay in [0, 1]."""
    if not math.isfinite(title_weight) or title_weight < 0:
        raise ConfigError(f"title_weight must be a non-negative number, got {title_weight}")
    if title_weight >= 1:
        return (1.0 / title_weight, 0.0, 0.0, 1.0)
    return (1.0, 0.0, 0.0, title_weight)


SPARSE_NORMALIZATION = 1
"""``ts_rank`` normalisation flags: 1 divides by 1 + log(document length)."""

SPARSE_MAX_SCORED = 2_000
"""The most rows a sparse search scores (``RAGD_PG_SPARSE_MAX_SCORED``): those holding the
query's rarest words, as many words as fit (see ``sql._TERM_CTES``). Scoring is
per row, so this bounds a text search's cost in a tenant of any size; a tenant of up to
this many rows is always ranked exactly. SciFact train split (10k chunks): sparse nDCG@10
0.6939 with 500, 1,000, 2,000, 5,000 or every row scored; at 1M rows the 200 bench
queries' top 10 was 99.8 % the unbounded one's, p95 24 ms against 44 ms with 5,000."""

EXTRA_SLOTS = 4
"""Score slots beyond one per query word, for words that yield several lexemes."""
