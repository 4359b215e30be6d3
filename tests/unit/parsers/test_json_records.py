from __future__ import annotations

import json

import pytest

from ragd.adapters.parsers import parse_document, split_records
from ragd.errors import DocumentRejected

JSON = "application/json"
NDJSON = "application/x-ndjson"

BEIR_LINES = [
    {
        "_id": "4983",
        "title": "Microstructure",
        "text": "Alterations of the architecture.",
        "metadata": {"year": 1999, "journal": "Brain"},
    },
    {"_id": "5836", "title": "", "text": "Induction of myelodysplasia.", "metadata": {}},
]


def _jsonl(rows: list[object]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_beir_jsonl_lines_become_records() -> None:
    data = _jsonl(BEIR_LINES) + b"\n\n"  # trailing blank lines are skipped

    records = split_records(data, NDJSON, source="corpus.jsonl")

    assert records is not None
    assert [r.key for r in records] == ["4983", "5836"]
    first, second = records
    assert first.title == "Microstructure"
    assert first.text == "Alterations of the architecture."
    assert first.metadata == {"year": 1999, "journal": "Brain"}
    assert second.title is None and second.metadata == {}


def test_json_array_of_records_with_other_text_fields() -> None:
    rows = [
        {"id": 7, "content": "first body", "lang": "en"},
        {"body": "second body", "title": "Second"},
    ]
    records = split_records(json.dumps(rows).encode(), JSON, source="docs.json")

    assert records is not None
    assert [(r.key, r.title, r.text) for r in records] == [
        ("7", None, "first body"),
        ("2", "Second", "second body"),
    ]
    assert records[0].metadata == {"lang": "en"}


def test_jsonl_saved_as_json_is_still_split() -> None:
    records = split_records(_jsonl(BEIR_LINES), JSON, source="corpus.json")

    assert records is not None and len(records) == 2


def test_keys_default_to_line_numbers() -> None:
    data = b'{"text": "a"}\n\n{"text": "b"}\n'

    records = split_records(data, NDJSON, source="x.jsonl")

    assert records is not None
    assert [r.key for r in records] == ["1", "3"]


@pytest.mark.parametrize(
    "value", [{"name": "svc", "port": 8080}, [1, 2, 3], [{"name": "no text field"}], "text"]
)
def test_non_record_json_is_not_split(value: object) -> None:
    assert split_records(json.dumps(value).encode(), JSON, source="c.json") is None


def test_malformed_jsonl_line_names_its_line() -> None:
    data = b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": broken}\n'

    with pytest.raises(DocumentRejected, match="line 2 is not valid JSON"):
        split_records(data, NDJSON, source="bad.jsonl")


def test_jsonl_line_that_is_not_a_record_is_rejected() -> None:
    data = b'{"_id": "1", "text": "ok"}\n{"_id": "2", "title": "no text"}\n'

    with pytest.raises(DocumentRejected, match="line 2 is not a record"):
        split_records(data, NDJSON, source="bad.jsonl")


def test_duplicate_ids_are_rejected() -> None:
    data = b'{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n'

    with pytest.raises(DocumentRejected, match="repeats record id '1'"):
        split_records(data, NDJSON, source="dup.jsonl")


def test_non_record_object_is_flattened_into_key_paths() -> None:
    config = {"service": {"name": "ragd", "ports": [80, 443]}, "debug": False, "title": "Cfg"}

    doc = parse_document(json.dumps(config).encode(), JSON, source="cfg.json")

    assert doc.text == (
        "service.name: ragd\nservice.ports[0]: 80\nservice.ports[1]: 443\ndebug: false\ntitle: Cfg"
    )
    assert doc.title == "Cfg"


def test_invalid_json_reports_the_position() -> None:
    with pytest.raises(DocumentRejected, match=r"invalid JSON at line 2 column \d+"):
        parse_document(b'{"a": 1,\n "b": }', JSON, source="bad.json")


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    data = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(DocumentRejected, match="nested too deeply"):
        parse_document(data, JSON, source="deep.json")
