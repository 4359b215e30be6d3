"""Scoring a span QA set: the dataset's normalisation, recall, hits, and reading
``qa.jsonl`` (bad lines are clear errors, an over-long line is refused unread)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragd.domain.qa import answer_recall, document_hit, holds_answer, normalise
from ragd.errors import InvalidRequest
from ragd.services.qa_evaluation import MAX_QA_LINE, is_qa_dataset, load_qa


def test_normalise_keeps_only_lowercase_letters_digits_and_single_spaces() -> None:
    assert normalise("  ACE2-receptor (hACE2),\n binds!  ") == "ace2 receptor hace2 binds"


def test_holds_answer_under_the_same_normalisation() -> None:
    text = "The virus binds the ACE2-receptor, as shown in [12]."
    assert holds_answer(text, ["ace2 receptor"])
    assert holds_answer(text, ["nothing", "binds the ACE2 receptor"])
    assert not holds_answer(text, ["ACE3"])
    assert not holds_answer(text, ["", "   "])  # an empty gold answer matches nothing


def test_recall_and_document_hits_look_at_the_top_k_only() -> None:
    passages = ["a", "b", "c", "d", "e", "answer here"]
    assert not answer_recall(passages, ["answer"], 5)
    assert answer_recall(passages, ["answer"], 6)
    assert document_hit(["d1", "d2", "d3"], ["d2"], 2)
    assert not document_hit(["d1", "d2", "d3"], ["d2"], 1)


def _write(root: Path, qa_lines: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "docs.jsonl").write_text(json.dumps({"id": "d", "title": "", "text": "x y"}) + "\n")
    (root / "qa.jsonl").write_text("\n".join(qa_lines) + "\n")
    return root


def test_load_qa_reads_items(tmp_path: Path) -> None:
    line = json.dumps({"id": "q1", "question": "why?", "answers": ["because"], "doc_ids": ["d"]})
    ds = load_qa(_write(tmp_path / "ok", [line, ""]))
    assert is_qa_dataset(ds.root) and ds.corpus.name == "docs.jsonl"
    assert [(i.id, i.question, i.answers, i.doc_ids) for i in ds.items] == [
        ("q1", "why?", ("because",), ("d",))
    ]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "line 1"),
        (json.dumps({"question": "q"}), "answers"),
        (json.dumps({"question": "", "answers": []}), "question"),
        (json.dumps({"question": "q", "answers": "a"}), "list of strings"),
        (json.dumps({"question": "q", "answers": ["a"], "doc_ids": "d"}), "doc_ids"),
        (json.dumps(["a list"]), "line 1"),
    ],
)
def test_bad_lines_are_invalid_requests_naming_the_line(
    tmp_path: Path, line: str, says: str
) -> None:
    with pytest.raises(InvalidRequest, match=says):
        load_qa(_write(tmp_path / "bad", [line]))


def test_an_over_long_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    root = _write(tmp_path / "long", ["x" * (MAX_QA_LINE + 10)])
    with pytest.raises(InvalidRequest, match="longer than"):
        load_qa(root)


def test_missing_files_or_no_questions(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"docs\.jsonl and qa\.jsonl"):
        load_qa(tmp_path)
    with pytest.raises(InvalidRequest, match="no questions"):
        load_qa(_write(tmp_path / "empty", [""]))
