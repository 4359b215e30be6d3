"""Chunking a section window by window gives exactly the chunks of one whole pass.

The digests below were taken from the chunker as it was before it learned to tokenise long
sections in windows (one ``token_spans`` call per section, main 87e5489): every chunk's
text, offsets, token count, page and heading path, for a varied corpus (the repository's
samples, generated Markdown with headings, long single paragraphs, odd whitespace and
unicode) and three tokenizers. The windowed chunker must reproduce them at its default
window and at windows small enough that every case is cut into many windows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragd.adapters.embedder.hashing import RegexTokenizer
from ragd.adapters.embedder.onnx_minilm import load_tokenizer
from ragd.adapters.embedder.remote import EstimateTokenizer
from ragd.adapters.parsers import detect_media_type, parse_document
from ragd.domain import chunking
from ragd.domain.chunking import SpanTokenizer, chunk_sections
from ragd.domain.models import ChunkDraft, ParsedDocument, Section

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from "
    "at which but have an they you were her she there been one all we their has would "
    "mitochondrial dysfunction neurodegeneration cohort protein receptor kinase pathway"
).split()
_ENDS = [".", ".", ".", "?", "!", ",", ";", ":", "", '."', ".)"]
_ODD = ["e.g.", "i.e.", "Dr.", "Fig.", "3.5", "U.S.", "et al.", "p<0.05", "CO2", "x86-64"]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 28))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_ODD))
    if rng.random() < 0.7:
        words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(_ENDS)


def _paragraph(rng: random.Random, sentences: int) -> str:
    seps = [" ", " ", " ", "  ", "\n", " \t "]
    return "".join(_sentence(rng) + rng.choice(seps) for _ in range(sentences)).strip()


def _markdown(rng: random.Random) -> str:
    out = []
    for h1 in range(3):
        out.append(f"# Part {h1} {rng.choice(_WORDS)}\n")
        for h2 in range(rng.randint(1, 4)):
            out.append(f"## Section {h1}.{h2}\n")
            for _ in range(rng.randint(1, 5)):
                kind = rng.random()
                if kind < 0.15:
                    out.append("\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 6))))
                elif kind < 0.25:
                    out.append("```\n" + "\n".join(_sentence(rng) for _ in range(3)) + "\n```")
                else:
                    out.append(_paragraph(rng, rng.randint(1, 30)))
                out.append("")
    return "\n".join(out)


def _corpus() -> dict[str, list[Section]]:
    """Named documents as the parsers (or a caller) hand them to the chunker."""
    rng = random.Random(17)
    docs: dict[str, list[Section]] = {}
    for path in sorted(SAMPLES.iterdir()):
        data = path.read_bytes()
        media_type = detect_media_type(path.name, data[:4096])
        docs[f"sample:{path.name}"] = parse_document(data, media_type, source=path.name).sections
    for n in range(3):
        text = _markdown(rng).encode()
        docs[f"markdown:{n}"] = parse_document(text, "text/markdown", source="g.md").sections
    # One long paragraph (about 200 KB): several default windows.
    docs["paragraph:long"] = [Section(_paragraph(rng, 2500))]
    # Many paragraphs, pages and headings.
    docs["paragraphs:pages"] = [
        Section(
            "\n\n".join(_paragraph(rng, rng.randint(1, 12)) for _ in range(rng.randint(1, 9))),
            page=page,
            heading_path=("Doc", f"p{page}"),
        )
        for page in range(1, 12)
    ]
    # Whitespace runs, blank-looking lines, a paragraph break made of spaces and tabs.
    docs["whitespace"] = [
        Section(
            "Alpha beta." + " " * 700 + "Gamma delta.\n \t \n\n   Epsilon."
            + "\n" * 300 + _paragraph(rng, 60) + "\t" * 50 + _paragraph(rng, 40)
        )
    ]  # fmt: skip
    # Unicode: accents, CJK (one token per character), emoji, long unbroken words.
    docs["unicode"] = [
        Section(
            " ".join(
                rng.choice(["Crème brûlée.", "日本語のテキストです。", "Ünïcödé wörds", "🙂🙃",
                            "Ελληνικά κείμενα.", "x" * rng.randint(90, 130), "a-b-c-d-e-f",
                            "naïve café"])
                for _ in range(1500)
            )
        )
    ]  # fmt: skip
    return docs


_MINILM = load_tokenizer()  # for the hypothesis test, which cannot take fixtures

SIZES = [(256, 32), (64, 16), (16, 0), (48, 47)]
TOKENIZERS = ["minilm", "regex", "estimate"]


def _tokenizer(name: str) -> SpanTokenizer:
    if name == "minilm":
        return load_tokenizer()
    if name == "regex":
        return RegexTokenizer()
    return EstimateTokenizer()


def _digest(chunks: list[ChunkDraft]) -> str:
    rows = [
        [c.ordinal, c.text, c.char_start, c.char_end, c.token_count, c.page, list(c.heading_path)]
        for c in chunks
    ]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()[:16]


EXPECTED: dict[str, str] = {
    "minilm/256/32/sample:honeybees.md": "26c421032c668a05",
    "minilm/256/32/sample:printing-press.txt": "c7e36ce6c0ba0ec6",
    "minilm/256/32/sample:ragd-overview.md": "ef8b197a4d8ddd45",
    "minilm/256/32/sample:tides.html": "2daf7ada13bb51b0",
    "minilm/256/32/markdown:0": "0afb3c98588cde77",
    "minilm/256/32/markdown:1": "0ba183834196b22c",
    "minilm/256/32/markdown:2": "b906d01614f35670",
    "minilm/256/32/paragraph:long": "2d347243cae380ef",
    "minilm/256/32/paragraphs:pages": "00d8e8ea22ff2e13",
    "minilm/256/32/whitespace": "157b9750f22b6c33",
    "minilm/256/32/unicode": "f3fb9632ba9cdb02",
    "minilm/64/16/sample:honeybees.md": "0ff5f2075836e551",
    "minilm/64/16/sample:printing-press.txt": "ee647db75d07dda3",
    "minilm/64/16/sample:ragd-overview.md": "1cda5f4f2a193d08",
    "minilm/64/16/sample:tides.html": "e9fad31cbc5351d3",
    "minilm/64/16/markdown:0": "c833703944b1e8d8",
    "minilm/64/16/markdown:1": "71ebd06a2f528bd4",
    "minilm/64/16/markdown:2": "d268c04ad822202b",
    "minilm/64/16/paragraph:long": "b3c1be6431d2a003",
    "minilm/64/16/paragraphs:pages": "14fd7683aaa4f74f",
    "minilm/64/16/whitespace": "80d9c094abd3a439",
    "minilm/64/16/unicode": "ad687ebdef5c9ddb",
    "minilm/16/0/sample:honeybees.md": "05223a4347c116b9",
    "minilm/16/0/sample:printing-press.txt": "bf3b6cef26073698",
    "minilm/16/0/sample:ragd-overview.md": "f55c805bd0fb1b56",
    "minilm/16/0/sample:tides.html": "f7e2d82797246368",
    "minilm/16/0/markdown:0": "c39d8a8f16836a3f",
    "minilm/16/0/markdown:1": "f9acf8c239c72af0",
    "minilm/16/0/markdown:2": "b94cac10c72186b1",
    "minilm/16/0/paragraph:long": "1e2afa0c135adcf1",
    "minilm/16/0/paragraphs:pages": "751edfdb7d8583c3",
    "minilm/16/0/whitespace": "77d2bd0fb035347c",
    "minilm/16/0/unicode": "8628345e48f8ebfb",
    "minilm/48/47/sample:honeybees.md": "ccd41cb1fd3663f1",
    "minilm/48/47/sample:printing-press.txt": "e2ebf02584de9b81",
    "minilm/48/47/sample:ragd-overview.md": "40236703549a6ac8",
    "minilm/48/47/sample:tides.html": "e9fad31cbc5351d3",
    "minilm/48/47/markdown:0": "cbfd5913b3ef4a5c",
    "minilm/48/47/markdown:1": "580c3f5df5ac3580",
    "minilm/48/47/markdown:2": "5386c6a25ce9d457",
    "minilm/48/47/paragraph:long": "d7743b7669a7ea3f",
    "minilm/48/47/paragraphs:pages": "b23d59d8e8af3c0e",
    "minilm/48/47/whitespace": "622314673f1ca671",
    "minilm/48/47/unicode": "70115dcc30398943",
    "regex/256/32/sample:honeybees.md": "4ba0e304ee380a05",
    "regex/256/32/sample:printing-press.txt": "858c6d62656c72d8",
    "regex/256/32/sample:ragd-overview.md": "ed4c557146daa0c7",
    "regex/256/32/sample:tides.html": "4277856c491c7e65",
    "regex/256/32/markdown:0": "e11aefbb8ca12fd6",
    "regex/256/32/markdown:1": "11ad080151b631ec",
    "regex/256/32/markdown:2": "bcb8bff1c55050e7",
    "regex/256/32/paragraph:long": "ee0d199038a93913",
    "regex/256/32/paragraphs:pages": "0321165c62e67d50",
    "regex/256/32/whitespace": "3c51a11e475e6891",
    "regex/256/32/unicode": "637667834c3b9213",
    "regex/64/16/sample:honeybees.md": "aaff9e8fd4131073",
    "regex/64/16/sample:printing-press.txt": "c535189cebe15bc0",
    "regex/64/16/sample:ragd-overview.md": "3af227e61a70a697",
    "regex/64/16/sample:tides.html": "b9b050a55944a235",
    "regex/64/16/markdown:0": "4d2a54b28463d8a8",
    "regex/64/16/markdown:1": "4b1ad908d1dd6a8d",
    "regex/64/16/markdown:2": "cc8b0b0e724a4eed",
    "regex/64/16/paragraph:long": "a7e7c20e021ed7ee",
    "regex/64/16/paragraphs:pages": "c0f95896d163f19d",
    "regex/64/16/whitespace": "b93c23d5f8549bca",
    "regex/64/16/unicode": "518bde097d3186b5",
    "regex/16/0/sample:honeybees.md": "f661452f86e15282",
    "regex/16/0/sample:printing-press.txt": "1d56e8fd1c6c2f6e",
    "regex/16/0/sample:ragd-overview.md": "78542ebf976ca31d",
    "regex/16/0/sample:tides.html": "dbf11362fc7e5009",
    "regex/16/0/markdown:0": "b15f5b43561d6295",
    "regex/16/0/markdown:1": "d5605a1157155644",
    "regex/16/0/markdown:2": "2762dd8d957a939c",
    "regex/16/0/paragraph:long": "a3c865caafd55cca",
    "regex/16/0/paragraphs:pages": "81ebc15d346f30a1",
    "regex/16/0/whitespace": "737a432f1c07e754",
    "regex/16/0/unicode": "171ec04b9e359aae",
    "regex/48/47/sample:honeybees.md": "926f04b9c988e7e6",
    "regex/48/47/sample:printing-press.txt": "c535189cebe15bc0",
    "regex/48/47/sample:ragd-overview.md": "dc38594d17face5d",
    "regex/48/47/sample:tides.html": "b9b050a55944a235",
    "regex/48/47/markdown:0": "c0f37a705b022b10",
    "regex/48/47/markdown:1": "2855620042b13dc5",
    "regex/48/47/markdown:2": "f1ce4cb8dda4cb30",
    "regex/48/47/paragraph:long": "19b4ac65add18ad8",
    "regex/48/47/paragraphs:pages": "7622c039a465fc5f",
    "regex/48/47/whitespace": "cbff3f9ce4b7db4e",
    "regex/48/47/unicode": "a2ba3b142c0b0c88",
    "estimate/256/32/sample:honeybees.md": "ec94fd813ead1105",
    "estimate/256/32/sample:printing-press.txt": "85dcc4531d52d975",
    "estimate/256/32/sample:ragd-overview.md": "f356bad747fd5898",
    "estimate/256/32/sample:tides.html": "744ab67dbaf2e107",
    "estimate/256/32/markdown:0": "9c6a98181b5d854d",
    "estimate/256/32/markdown:1": "73d0b857465bee5b",
    "estimate/256/32/markdown:2": "9916098714a6cdf1",
    "estimate/256/32/paragraph:long": "dfb94e8c6121eaf8",
    "estimate/256/32/paragraphs:pages": "2d23da24d43b2a85",
    "estimate/256/32/whitespace": "8b3dfce8b71ceaec",
    "estimate/256/32/unicode": "f463c278b229637b",
    "estimate/64/16/sample:honeybees.md": "5969f193cdb571aa",
    "estimate/64/16/sample:printing-press.txt": "cf4b59aaf8857f67",
    "estimate/64/16/sample:ragd-overview.md": "831c385649440e2b",
    "estimate/64/16/sample:tides.html": "f3d65f45cdc5c6b4",
    "estimate/64/16/markdown:0": "329ef11f8b88133a",
    "estimate/64/16/markdown:1": "e249707048144648",
    "estimate/64/16/markdown:2": "9095dfef5768cc78",
    "estimate/64/16/paragraph:long": "8f4d3f142648df90",
    "estimate/64/16/paragraphs:pages": "d9e14e110fa193be",
    "estimate/64/16/whitespace": "de536c599988c552",
    "estimate/64/16/unicode": "ccc7945b7cf97975",
    "estimate/16/0/sample:honeybees.md": "e1b5a572fb8ae4b7",
    "estimate/16/0/sample:printing-press.txt": "411558134d1a74cc",
    "estimate/16/0/sample:ragd-overview.md": "f0965ce864d626a6",
    "estimate/16/0/sample:tides.html": "c62abb944ae4f630",
    "estimate/16/0/markdown:0": "aabd77937555f1fa",
    "estimate/16/0/markdown:1": "7d40152801d8d739",
    "estimate/16/0/markdown:2": "15d0a4176b87a01c",
    "estimate/16/0/paragraph:long": "24485e947a4afd94",
    "estimate/16/0/paragraphs:pages": "7f1ca412a0f6abed",
    "estimate/16/0/whitespace": "038dd82e5caf1ff5",
    "estimate/16/0/unicode": "7c40d4ae8bdbbd70",
    "estimate/48/47/sample:honeybees.md": "786009df44135876",
    "estimate/48/47/sample:printing-press.txt": "d6e8811b9589e965",
    "estimate/48/47/sample:ragd-overview.md": "4f61c87d7e7ad05f",
    "estimate/48/47/sample:tides.html": "c2e4e9ce0507d8bd",
    "estimate/48/47/markdown:0": "d82c90d5bc74eb2f",
    "estimate/48/47/markdown:1": "d872542761b790c7",
    "estimate/48/47/markdown:2": "232013f6cedbdb6f",
    "estimate/48/47/paragraph:long": "abe31fc7bbf66268",
    "estimate/48/47/paragraphs:pages": "5d35cf1067341cf3",
    "estimate/48/47/whitespace": "c038abfedaf29936",
    "estimate/48/47/unicode": "3559acfa16af57d4",
}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[Section]]:
    return _corpus()


def _cases() -> list[tuple[str, int, int]]:
    return [(t, m, o) for t in TOKENIZERS for m, o in SIZES]


# The default window, and windows small enough that every case is read in many pieces
# (1,000 characters is shorter than a 256-token chunk: decisions need two windows ahead;
# 301 is the least that keeps the corpus's longest word, 130 letters, in one window).
WINDOWS = [chunking.WINDOW_CHARS, 4096, 1000, 301]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize(("tokenizer_name", "max_tokens", "overlap"), _cases())
def test_chunks_identical_to_one_pass(
    corpus: dict[str, list[Section]],
    tokenizer_name: str,
    max_tokens: int,
    overlap: int,
    window: int,
) -> None:
    tokenizer = _tokenizer(tokenizer_name)
    for name, sections in corpus.items():
        key = f"{tokenizer_name}/{max_tokens}/{overlap}/{name}"
        chunks = chunk_sections(
            sections, tokenizer, max_tokens=max_tokens, overlap=overlap, window_chars=window
        )
        assert _digest(chunks) == EXPECTED[key], key


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(max_size=400), max_size=3),
    window=st.integers(2, 64),
    max_tokens=st.integers(1, 24),
    data=st.data(),
)
def test_tiny_windows_keep_the_invariants_on_any_text(
    texts: list[str], window: int, max_tokens: int, data: st.DataObject
) -> None:
    """Windows shorter than a word cut words (and so tokens) apart; chunks must still be
    exact slices of the text, within the size, in order and terminating."""
    overlap = data.draw(st.integers(0, max_tokens - 1))
    sections = [Section(t) for t in texts]
    chunks = chunk_sections(
        sections, _MINILM, max_tokens=max_tokens, overlap=overlap, window_chars=window
    )
    full = ParsedDocument(sections=sections).text
    for i, chunk in enumerate(chunks):
        assert chunk.ordinal == i
        assert full[chunk.char_start : chunk.char_end] == chunk.text
        assert 1 <= chunk.token_count <= max_tokens
        assert chunk.text.strip()
    for previous, current in itertools.pairwise(chunks):
        assert current.char_end > previous.char_end


def test_a_character_of_several_tokens_is_never_chunked_twice() -> None:
    """MiniLM's WordPiece splits a Hangul syllable into three tokens with one span; with
    chunks of one or two tokens the chunker used to emit the same character 2–3 times
    (found by the property test above)."""
    for max_tokens in (1, 2, 3):
        chunks = chunk_sections([Section("델 델델")], _MINILM, max_tokens=max_tokens, overlap=0)
        spans = [(c.char_start, c.char_end) for c in chunks]
        assert all(b[1] > a[1] for a, b in itertools.pairwise(spans)), spans
        assert spans[-1][1] == len("델 델델")  # the whole text is still covered
