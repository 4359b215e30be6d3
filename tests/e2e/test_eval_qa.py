"""``ragd eval`` on a QA set in covidqa-dev's layout, on a fixture the test writes: every
mode is scored by answer recall@5 and document hits, the answers by containment and the
share citing a passage without the answer; a bad set is a clear error and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import ragd

TOPICS = {
    "bees": [
        "Honeybees make honey from the nectar of flowers.",
        "Foragers carry nectar back to the hive in a special stomach.",
        "House bees evaporate the water until the honey is thick.",
    ],
    "tides": [
        "Tides are caused by the gravity of the Moon and the Sun.",
        "Spring tides happen when the Sun and the Moon line up.",
        "Neap tides are the weakest tides of the month.",
    ],
    "press": [
        "Gutenberg built a printing press with movable metal type.",
        "About 180 copies of his Bible were made.",
        "Forty-nine copies are known to survive today.",
    ],
    "volcano": [
        "Magma rises through cracks in the crust of the Earth.",
        "Pressure from dissolved gases drives an eruption.",
        "Cooled lava forms new basalt rock on the slopes.",
    ],
}

QUESTIONS = [
    ("q1", "How do bees make honey from nectar?", "make honey from the nectar of flowers", "bees"),
    ("q2", "What causes the tides?", "the gravity of the Moon and the Sun", "tides"),
    ("q3", "How many copies of the Gutenberg Bible were made?", "About 180 copies", "press"),
    ("q4", "What drives a volcanic eruption?", "Pressure from dissolved gases", "volcano"),
]


def write_qa_set(root: Path) -> Path:
    root.mkdir(parents=True)
    with (root / "docs.jsonl").open("w") as fh:
        for name, sentences in TOPICS.items():
            text = f"All about {name}\n\n" + " ".join(sentences)
            fh.write(json.dumps({"id": f"doc-{name}", "title": "", "text": text}) + "\n")
    with (root / "qa.jsonl").open("w") as fh:
        for qid, question, answer, doc in QUESTIONS:
            row = {"id": qid, "question": question, "answers": [answer], "doc_ids": [f"doc-{doc}"]}
            fh.write(json.dumps(row) + "\n")
    return root


def test_eval_scores_a_qa_set_per_mode_and_its_answers(tmp_path: Path) -> None:
    dataset = write_qa_set(tmp_path / "qa-set")
    done = ragd(["eval", str(dataset), "--json"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["questions"] == 4 and report["documents"] == 4
    assert set(report["modes"]) == {"dense", "sparse", "hybrid"}
    for mode in report["modes"].values():
        assert set(mode) >= {"answer_recall@5", "doc_hit@1", "doc_hit@5", "doc_hit@10"}
        assert mode["questions"] == 4
    # Four one-chunk documents: every mode has the answer's chunk in its top 5.
    assert report["modes"]["sparse"]["answer_recall@5"] == 1.0
    assert report["modes"]["sparse"]["doc_hit@1"] == 1.0
    answers = report["answers"]
    assert answers["model"] == "ragd-extractive" and answers["questions"] == 4
    assert answers["containment"] == 1.0
    assert 3 <= answers["answer_words_mean"] <= 60  # quoted sentences, not whole documents
    # The answers quote the document holding the answer, nothing from the others.
    assert answers["stray_share"] == 0.0


def test_eval_of_a_qa_set_can_skip_answers_and_limit_questions(tmp_path: Path) -> None:
    dataset = write_qa_set(tmp_path / "qa-set")
    done = ragd(
        ["eval", str(dataset), "--json", "--no-answers", "--max-queries", "2", "--modes", "sparse"],
        tmp_path / "data",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["questions"] == 2 and "answers" not in report
    assert list(report["modes"]) == ["sparse"]


@pytest.mark.parametrize(
    ("line", "says"),
    [("{broken", "qa.jsonl line 1"), (json.dumps({"question": "q"}), "answers")],
)
def test_a_bad_qa_file_is_a_clear_error(tmp_path: Path, line: str, says: str) -> None:
    dataset = write_qa_set(tmp_path / "qa-set")
    (dataset / "qa.jsonl").write_text(line + "\n")
    done = ragd(["eval", str(dataset)], tmp_path / "data")
    assert done.returncode != 0
    assert says in done.stderr + done.stdout
