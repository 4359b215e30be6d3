"""Generated multi-hop questions: two documents linked only through an entity.

For each case, document A says a drug was tested by a research group, document B that the
same group studied a protein, and the question names only the protein: "Which drug was
tested by the group that studied Xalvorin?". The answer needs both documents, and the
only thing they share with each other is the group's name, which the question does not
contain. All names are generated pseudo-words (no model has seen them), every A document
reads like every other, so the question's words cannot single out its A document:
hybrid search finds B (it names the protein) but A only by chance; the graph walks
protein → group → drug.

Used by tests/integration/test_graph_multihop.py and bench/graph.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ragd.domain.models import TenantId
from ragd.services.container import Services

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_GROUP_WORDS = ["Consortium", "Group", "Institute", "Laboratory", "Collective"]


def _word(rng: random.Random, syllables: int, suffix: str) -> str:
    body = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
    return (body + suffix).capitalize()


@dataclass(frozen=True)
class Case:
    drug: str
    group: str
    protein: str

    @property
    def doc_a(self) -> str:
        return (
            f"In a randomised trial, {self.drug} was tested by the {self.group}. "
            "Patients tolerated the treatment well and the dosing schedule was unchanged "
            "throughout the study period."
        )

    @property
    def doc_b(self) -> str:
        return (
            f"Separately, the {self.group} studied {self.protein} in cultured cells. "
            "The work focused on binding kinetics and expression levels over several weeks."
        )

    @property
    def question(self) -> str:
        return f"Which drug was tested by the group that studied {self.protein}?"


def cases(n: int, seed: int = 7) -> list[Case]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Case] = []
    while len(out) < n:
        drug = _word(rng, 2, rng.choice(["ine", "azole", "mab", "vir", "statin"]))
        group = f"{_word(rng, 2, '')} {rng.choice(_GROUP_WORDS)}"
        protein = _word(rng, 3, "in")
        if {drug, group, protein} & seen:
            continue
        seen |= {drug, group, protein}
        out.append(Case(drug, group, protein))
    return out


@dataclass
class Outcome:
    questions: int = 0
    both: dict[str, int] | None = None
    a_found: dict[str, int] | None = None


def ingest(svc: Services, tenant: TenantId, all_cases: list[Case]) -> dict[str, tuple[str, str]]:
    """Submit every case's two documents; returns question → (id of A, id of B)."""
    ids: dict[str, tuple[str, str]] = {}
    for i, c in enumerate(all_cases):
        a = svc.ingest.submit_text(tenant, c.doc_a, source=f"trial-{i}.txt").document
        b = svc.ingest.submit_text(tenant, c.doc_b, source=f"study-{i}.txt").document
        ids[c.question] = (a.id, b.id)
    return ids


def score(
    svc: Services, tenant: TenantId, ids: dict[str, tuple[str, str]], modes: list[str], k: int
) -> Iterator[tuple[str, int, int]]:
    """Per mode: (mode, questions whose top-k holds both documents, ... holds A)."""
    for mode in modes:
        both = a_found = 0
        for question, (a, b) in ids.items():
            got = {h.document_id for h in svc.search.search(tenant, question, mode=mode, k=k).hits}  # type: ignore[arg-type]
            both += a in got and b in got
            a_found += a in got
        yield mode, both, a_found
