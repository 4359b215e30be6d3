"""The model-free follow-up rewrite (``domain.followup``)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from ragd.domain.followup import CARRY_LAST, MAX_ENTITY_WORDS, entities, standalone_question


def test_entities_are_names_acronyms_and_mixed_tokens() -> None:
    assert entities("What is the incubation period of MERS-CoV in Saudi Arabia?") == [
        "MERS-CoV",
        "Saudi Arabia",
    ]
    assert entities("How does COVID-19 spread among H1N1 patients?") == ["COVID-19", "H1N1"]
    assert entities("What is the main cause?") == []  # the capital opening a question is not a name
    assert entities("What happened in 2008-2009?") == []  # a date is not a name


def test_a_pronoun_names_the_last_entity() -> None:
    previous = ["What is the incubation period of MERS-CoV?"]
    assert standalone_question("What is its reservoir?", previous).startswith(
        "What is MERS-CoV's reservoir?"
    )
    assert standalone_question("How is it transmitted?", previous).startswith(
        "How is MERS-CoV transmitted?"
    )
    assert standalone_question(
        "How is this virus transmitted?", ["Where was SARS-CoV-2 first found?"]
    ).startswith("How is SARS-CoV-2 transmitted?")
    # The most recent entity wins.
    assert standalone_question(
        "What causes it?", ["What is HIV-1?", "What is MERS-CoV?"]
    ).startswith("What causes MERS-CoV?")


def test_the_follow_ups_own_entity_is_not_replaced_but_the_pronoun_is() -> None:
    out = standalone_question(
        "How does DC-SIGNR affect the MTCT of it?", ["What causes HIV-1 infection in children?"]
    )
    assert out.startswith("How does DC-SIGNR affect the MTCT of HIV-1?")


def test_salient_terms_carry_over_and_the_question_keeps_its_words_first() -> None:
    out = standalone_question("And what about children?", ["How does COVID-19 spread in adults?"])
    assert out.startswith("And what about children?")
    carried = out.removeprefix("And what about children?").split()
    assert carried[0] == "COVID-19"  # entities first
    assert {"spread", "adults"} <= set(carried)
    words = ["".join(chr(97 + (i * 7 + j) % 26) for j in range(5 + i % 4)) for i in range(30)]
    out = standalone_question("Why?", ["Which " + " ".join(words) + "?"])
    assert len(out.split()) == 1 + CARRY_LAST
    names = " ".join(f"Term{i}" for i in range(30))
    assert all(len(e.split()) <= MAX_ENTITY_WORDS for e in entities(f"What is {names}?"))
    out = standalone_question("Why?", [f"What is {names}?"])
    assert len(out.split()) <= 1 + CARRY_LAST * MAX_ENTITY_WORDS


def test_nothing_to_draw_on_leaves_the_question_alone() -> None:
    assert standalone_question("What is its reservoir?", []) == "What is its reservoir?"
    assert standalone_question("  What   is it? ", ["   "]) == "What is it?"
    # Words already in the question are not repeated.
    assert standalone_question("What is MERS-CoV?", ["What is MERS-CoV?"]) == "What is MERS-CoV?"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.lists(st.text(max_size=300), max_size=12))
def test_any_input_gives_a_bounded_question_quickly(question: str, previous: list[str]) -> None:
    started = time.perf_counter()
    out = standalone_question(question, previous)
    assert time.perf_counter() - started < 1.0
    assert len(out) <= len(" ".join(question.split())) + 2 * 300 + 200


def test_a_question_that_names_something_new_stands_alone() -> None:
    previous = ["When did Mount Halvard last erupt?"]
    assert standalone_question("Where was Vessby rebuilt?", previous) == "Where was Vessby rebuilt?"
    # ...but not when it opens like a continuation, or points back with a pronoun.
    assert "Halvard" in standalone_question("And what about Vessby?", previous)
    assert standalone_question("Was Vessby near it?", previous).startswith(
        "Was Vessby near Mount Halvard?"
    )
