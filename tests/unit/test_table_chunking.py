"""Tables in the chunker: rows are never split across chunks and every chunk of a table
starts with its header row. Checked with the real MiniLM tokenizer (tokenizer.json only)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragd.adapters.embedder.onnx_minilm import HFTokenizer, load_tokenizer
from ragd.domain.chunking import chunk_sections
from ragd.domain.models import ChunkDraft, Section
from ragd.domain.tables import lay_out_tables

_TOKENIZER = load_tokenizer()
HEADER = "Metal | Density | Melting point"


@pytest.fixture(scope="module")
def tokenizer() -> HFTokenizer:
    return _TOKENIZER


def _rows(n: int) -> list[str]:
    return [f"Alloy-{i} | {7 + i / 100:.2f} g/cm3 | {1000 + i} °C" for i in range(n)]


def _full_text(sections: list[Section], tokenizer: HFTokenizer, max_tokens: int) -> str:
    laid_out = lay_out_tables(sections, tokenizer, max_tokens=max_tokens)
    return "\n\n".join(s.text for s in laid_out)


def _check(
    sections: list[Section], chunks: list[ChunkDraft], tokenizer: HFTokenizer, max_tokens: int
) -> None:
    full = _full_text(sections, tokenizer, max_tokens)
    for chunk in chunks:
        assert full[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.token_count <= max_tokens


def test_every_chunk_of_a_table_starts_with_its_header_and_holds_whole_rows(
    tokenizer: HFTokenizer,
) -> None:
    rows = _rows(60)
    table = Section(text="\n".join(rows), page=3, heading_path=("Metals",), table_header=HEADER)

    chunks = chunk_sections([table], tokenizer, max_tokens=64, overlap=16)

    assert len(chunks) > 3
    seen: list[str] = []
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[0] == HEADER
        assert all(line in rows for line in lines[1:])  # whole rows only
        assert (chunk.page, chunk.heading_path) == (3, ("Metals",))
        seen += lines[1:]
    assert seen == rows  # every row once, in order: no overlap repeats a row
    _check([table], chunks, tokenizer, 64)


def test_a_row_is_never_cut_even_when_the_cut_would_fill_the_chunk(
    tokenizer: HFTokenizer,
) -> None:
    long_row = " | ".join(f"word{i}" for i in range(25))  # about 60 tokens
    rows = ["short | row", long_row, "short | again", long_row]
    table = Section(text="\n".join(rows), table_header="a | b")

    chunks = chunk_sections([table], tokenizer, max_tokens=80, overlap=10)

    for chunk in chunks:
        assert all(line in [*rows, "a | b"] for line in chunk.text.split("\n"))
    assert sum(c.text.count(long_row) for c in chunks) == 2


def test_text_around_a_table_is_chunked_as_before(tokenizer: HFTokenizer) -> None:
    before = Section(text="The table below lists the metals we tested in 2024.")
    table = Section(text="\n".join(_rows(5)), table_header=HEADER)
    after = Section(text="All figures are at room temperature.")

    chunks = chunk_sections([before, table, after], tokenizer, max_tokens=256, overlap=0)

    assert [c.text for c in chunks] == [
        before.text,
        HEADER + "\n" + table.text,
        after.text,
    ]
    _check([before, table, after], chunks, tokenizer, 256)


def test_rows_that_name_their_columns_need_no_header(tokenizer: HFTokenizer) -> None:
    rows = [f"SKU: A-{i} | Warehouse: Depot {i % 3} | Quantity: {i}" for i in range(40)]
    table = Section(text="\n".join(rows), heading_path=("Inventory",), table_header="")

    chunks = chunk_sections([table], tokenizer, max_tokens=48, overlap=8)

    assert len(chunks) > 1
    assert [line for c in chunks for line in c.text.split("\n")] == rows


def test_a_row_longer_than_a_chunk_is_split_alone_with_the_header_first(
    tokenizer: HFTokenizer,
) -> None:
    huge = " | ".join(f"cell number {i}" for i in range(80))
    table = Section(text=f"first | row\n{huge}\nlast | row", table_header="h1 | h2")

    chunks = chunk_sections([table], tokenizer, max_tokens=40, overlap=0)

    assert chunks[0].text == "h1 | h2\nfirst | row"
    assert chunks[1].text.startswith("h1 | h2\ncell number 0")
    assert chunks[-1].text == "h1 | h2\nlast | row"
    middle = "".join(c.text for c in chunks[1:-1])
    assert "cell number 79" in middle
    _check([table], chunks, tokenizer, 40)


def test_a_header_longer_than_half_a_chunk_is_kept_once_as_the_first_row(
    tokenizer: HFTokenizer,
) -> None:
    header = " | ".join(f"Column {i}" for i in range(20))
    table = Section(text="\n".join(_rows(10)), table_header=header)

    chunks = chunk_sections([table], tokenizer, max_tokens=64, overlap=0)

    assert chunks[0].text.startswith(header)
    assert all(header not in c.text for c in chunks[1:])


def test_counting_rows_in_windows_gives_the_same_pieces(tokenizer: HFTokenizer) -> None:
    table = Section(text="\n".join(_rows(300)), table_header=HEADER)

    whole = lay_out_tables([table], tokenizer, max_tokens=100)
    windowed = lay_out_tables([table], tokenizer, max_tokens=100, window_chars=200)

    assert whole == windowed


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(
        st.lists(
            st.text(alphabet="abcdé 0123456789.-ü", min_size=1, max_size=12), min_size=1, max_size=5
        ),
        min_size=1,
        max_size=40,
    ),
    max_tokens=st.integers(min_value=12, max_value=120),
)
def test_any_table_keeps_rows_whole_and_slices_exact(
    cells: list[list[str]], max_tokens: int
) -> None:
    rows = [" | ".join(c.strip() or "x" for c in row) for row in cells]
    table = Section(text="\n".join(rows), table_header="k | v")

    chunks = chunk_sections([table], _TOKENIZER, max_tokens=max_tokens, overlap=max_tokens // 4)

    _check([table], chunks, _TOKENIZER, max_tokens)
    for chunk in chunks:
        lines = chunk.text.split("\n")
        if all(_TOKENIZER.count(f"k | v\n{r}") <= max_tokens for r in rows):
            assert lines[0] == "k | v"
            assert all(line in rows for line in lines[1:])
