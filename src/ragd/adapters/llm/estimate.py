"""A token count without a tokenizer, for models whose tokenizer ragd cannot run locally.

The prompt builder spends the context window with it, so it leans high rather than low:
an overestimate leaves a little context unused, an underestimate overflows it.

Rule (about 1.3-1.5 pieces per English word, close to the ~1.33 of BPE vocabularies such
as OpenAI's ``cl100k``/``o200k`` and Llama's):

* a run of ASCII letters counts ``ceil(len / 4)`` ("the" 1, "answer" 2, "photosynthesis" 4);
* a run of up to three digits counts 1;
* every other visible character counts 1 (punctuation, symbols, and each letter of a
  non-Latin script, where BPE vocabularies spend one or more tokens per character);
* whitespace counts 0 (BPE merges a space into the following word).

Appending text never lowers the count.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"[A-Za-z]+|[0-9]{1,3}|\S")


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text`` under a typical BPE vocabulary; 0 for blank text."""
    total = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        total += (len(piece) + 3) // 4 if piece.isascii() and piece.isalpha() else 1
    return total
