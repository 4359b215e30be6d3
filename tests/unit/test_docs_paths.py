"""The contributor documents name only what exists, so they cannot drift silently.

``README.md``, ``CONTRIBUTING.md`` and ``docs/architecture.md`` point readers at files
(``src/ragd/...``, ``ragd/...``, ``tests/...``, ``scripts/...``, ``docs/...``,
``deploy/...``, ``bench/...``), at tests (``tests/x.py::test_name``), at modules by name in
their layout blocks (``src/ragd/services/   querying.py, ...``) and at each other
(``[text](file.md#anchor)``). Each of those must resolve in the working tree; the module
map of ``docs/architecture.md`` must list exactly the modules of ``src/ragd``; every
``architecture.md#anchor`` cited anywhere in the repository must be a heading of it; and
no reference to the design document that lives outside the repository may come back.

The per-guide pages ``docs/guides/*.md`` are held to the same rules (paths exist, links
resolve), more strictly (a path under ``deploy/``, ``docs/``, ``scripts/`` or ``bench/`` of
three parts or more is checked even without a file suffix: ``deploy/k8s/overlays/sentio-rag``;
two parts are left alone, since ``deploy/ragd-api`` is kubectl's name of a Deployment), and
every ``ragd``
command they show, with its options, must be one ``ragd --help`` lists. What a page quotes
from its guide is exempt: lines starting with ``>``, and the first column of a table whose
header names it ``guide`` (the guide's own paths and commands, which do not exist here).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ragd"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ARCHITECTURE]
GUIDES = ROOT / "docs" / "guides"
GUIDE_PAGES = sorted(GUIDES.glob("*.md"))
"""The index (``README.md``) and one page per deployment guide."""
CHECKED = DOCUMENTS + GUIDE_PAGES

PATH = re.compile(
    r"(?<![\w./-])(?P<path>(?:src/ragd|ragd|tests|scripts|docs|deploy|bench)/[\w./-]*)"
    r"(?P<next>::\w+|[<{*])?"
)
"""A repository path at the start of a token, and what follows it: ``::name`` (a test or
a definition in that file), or ``<``, ``{``, ``*`` (a template or a glob, not a path)."""
LOOSE = {"scripts", "docs", "deploy", "bench"}
"""Top-level names that also occur in prose ("docs/s"): taken as a path only with a file
suffix or a trailing slash."""
LAYOUT_ENTRY = re.compile(
    r"^(?P<path>(?:src/ragd|tests|scripts|docs|deploy|bench|samples)/\S*)\s{2,}"
)
"""A line of a layout block: a repository path, then what is in it."""
LAYOUT_NAME = re.compile(
    r"(?<![\w./{-])(?P<name>[A-Za-z_][\w.-]*(?:/[\w.-]+)*"
    r"(?:\.(?:py|md|yaml|sh|json|toml)|/))(?![\w{])"
)
"""A file (``querying.py``, ``deploy.md``) or directory (``sqlite/memory/``) named in a
layout entry's text."""
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<text>.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
ANCHOR_REF = re.compile(r"architecture\.md#(?P<anchor>[\w-]+)")
DESIGN_REF = re.compile(r"\bDESIGN\b(?![_A-Z])")
"""The old design document, cited as "DESIGN §n"; constant names (DESIGN_*) may stay."""
MAP_ENTRY = re.compile(r"^(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>\S+)")
QUOTE = re.compile(r"^\s*>")
"""A guide page's quotation of its guide."""
TABLE_ROW = re.compile(r"^\s*\|")
TABLE_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
SHELL_SEPARATOR = re.compile(r"&&|\|\||[|;(]|\$\(|\s--\s")
"""Where one shell command ends and the next begins (``kubectl exec … -- ragd …`` too)."""
GUIDE_PAGE_NAME = re.compile(r"^\d{3}_[0-9a-f]{16}\.md$")


def _split_fences(path: Path) -> tuple[list[str], list[list[str]]]:
    """The document's lines outside fenced code blocks, and each block's lines."""
    prose: list[str] = []
    blocks: list[list[str]] = []
    block: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            if block is None:
                block = []
            else:
                blocks.append(block)
                block = None
        elif block is None:
            prose.append(line)
        else:
            block.append(line)
    return prose, blocks


def is_guide_page(path: Path) -> bool:
    return path.parent == GUIDES


def own_text(document: Path) -> str:
    """The document's text; for a guide page, without what it quotes from its guide
    (``>`` lines, and the first cell of each row of a table headed ``| guide | ...``)."""
    text = document.read_text(encoding="utf-8")
    if not is_guide_page(document):
        return text
    kept: list[str] = []
    lines = text.splitlines()
    guide_table = False
    for n, line in enumerate(lines):
        if QUOTE.match(line):
            continue
        if not TABLE_ROW.match(line):
            guide_table = False
        elif TABLE_RULE.match(line):
            pass
        elif n + 1 < len(lines) and TABLE_RULE.match(lines[n + 1]):  # a header row
            guide_table = line.split("|")[1].strip().lower() == "guide"
        elif guide_table:
            cells = line.split("|")
            line = "|".join([*cells[:1], "", *cells[2:]])
        kept.append(line)
    return "\n".join(kept) + "\n"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|\[|\]\([^)]*\)", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in _split_fences(path)[0]:
        match = HEADING.match(line)
        if match:
            base = slug(match.group("text"))
            anchor, n = base, 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def resolve(path: str) -> Path:
    return ROOT / "src" / path if path.startswith("ragd/") else ROOT / path


def defines(source: Path, name: str) -> bool:
    pattern = rf"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\s*[:=]"
    return re.search(pattern, source.read_text(encoding="utf-8"), re.MULTILINE) is not None


def named_paths(document: Path) -> list[tuple[str, str | None]]:
    """Every repository path the document names (code blocks included), with the name
    after ``::``, if any."""
    out: list[tuple[str, str | None]] = []
    strict = is_guide_page(document)
    for match in PATH.finditer(own_text(document)):
        after = match.group("next")
        if after and after[0] in "<{*":
            continue
        path = match.group("path").rstrip(".,")
        if (
            path.split("/")[0] in LOOSE
            and not (path.endswith("/") or "." in path)
            and not (strict and path.count("/") >= 2)
        ):
            continue
        out.append((path, after[2:] if after else None))
    return out


def layout_names(document: Path) -> list[tuple[str, str]]:
    """``(directory, name)`` for every file or directory a layout entry names in its
    text, e.g. ``("src/ragd/services/", "querying.py")``."""
    out: list[tuple[str, str]] = []
    for block in _split_fences(document)[1]:
        entry = None
        for line in block:
            match = LAYOUT_ENTRY.match(line)
            if match:
                entry, text = match.group("path"), line[match.end() :]
            elif entry is not None and line.startswith(" "):
                text = line
            else:
                entry = None
                continue
            out.extend((entry, m.group("name")) for m in LAYOUT_NAME.finditer(text))
    return out


def inside(directory: str, name: str) -> bool:
    """Whether ``name`` is a path inside ``directory`` at any depth, or from the root."""
    if (ROOT / name).exists():
        return True
    base, want = ROOT / directory, name.rstrip("/")
    return base.is_dir() and any(
        p.relative_to(base).as_posix().endswith(want)
        and (p.is_dir() if name.endswith("/") else p.is_file())
        and "__pycache__" not in p.parts
        for p in base.rglob(want.rsplit("/", 1)[-1])
    )


@pytest.mark.parametrize("document", CHECKED, ids=lambda p: p.name)
def test_every_path_named_exists(document: Path) -> None:
    named = named_paths(document)
    assert named, f"no path found in {document.name}: the extraction is broken"
    missing = sorted({p for p, _ in named if not resolve(p).exists()})
    assert not missing, f"{document.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", CHECKED, ids=lambda p: p.name)
def test_every_test_or_definition_named_exists(document: Path) -> None:
    undefined = [
        f"{path}::{name}"
        for path, name in named_paths(document)
        if name is not None and not defines(resolve(path), name)
    ]
    assert not undefined, f"{document.name} names what its file does not define: {undefined}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_module_a_layout_entry_names_exists(document: Path) -> None:
    names = layout_names(document)
    if document.name in ("README.md", "CONTRIBUTING.md"):
        assert names, f"no layout block found in {document.name}: the extraction is broken"
    missing = [f"{d} {n}" for d, n in names if not inside(d, n)]
    assert not missing, f"{document.name}'s layout names what is not there: {missing}"


@pytest.mark.parametrize("document", CHECKED, ids=lambda p: p.name)
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for line in _split_fences(document)[0]:
        for match in LINK.finditer(line):
            target = match.group("target")
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            file, _, anchor = target.partition("#")
            linked = (document.parent / file).resolve() if file else document
            unknown_anchor = bool(anchor) and linked.suffix == ".md"
            if not linked.exists() or (unknown_anchor and anchor not in anchors(linked)):
                broken.append(target)
    assert not broken, f"{document.name} has links that lead nowhere: {broken}"


def code_segments(document: Path) -> list[str]:
    """The document's own code: each line of its fenced blocks and each inline span."""
    prose, blocks = [], []
    block: list[str] | None = None
    for line in own_text(document).splitlines():
        if FENCE.match(line):
            if block is None:
                block = []
            else:
                blocks.append(block)
                block = None
        elif block is None:
            prose.append(line)
        else:
            block.append(line)
    segments = [line for b in blocks for line in b]
    segments += [m.group(1) for line in prose for m in INLINE_CODE.finditer(line)]
    return segments


def ragd_invocations(segment: str) -> list[list[str]]:
    """The arguments of each ``ragd`` command in a line of shell: ``ragd`` (or a path
    ending in ``/ragd``) as a command's first word, after any ``NAME=value``."""
    found = []
    for command in SHELL_SEPARATOR.split(segment.split(" #", 1)[0]):
        words = [w.strip("'\"[]()") for w in command.split()]
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
            words.pop(0)
        if len(words) > 1 and re.fullmatch(r"(?:[\w.-]*/)*ragd", words[0]):
            found.append([w for w in words[1:] if w])
    return found


def _cli() -> Any:
    import typer

    from ragd.cli.main import app

    return typer.main.get_command(app)


def unknown_ragd_usage(args: list[str], cli: Any) -> str | None:
    """Why ``ragd <args>`` is not a command ``ragd --help`` lists, or None if it is.
    ``cli`` is the CLI's click command tree (Typer's own click: a group has ``commands``)."""
    command = cli
    words = [a for a in args if not a.startswith("-")]
    path: list[str] = []
    while hasattr(command, "commands"):
        if not words:
            return None  # the group alone (``ragd config``): its help
        name = words.pop(0)
        path.append(name)
        if name not in command.commands:
            return f"ragd {' '.join(path)}: no such command"
        command = command.commands[name]
    known = {"--help"} | {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    wrong = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    wrong = [a for a in wrong if a not in known]
    return f"ragd {' '.join(path)}: no option {', '.join(wrong)}" if wrong else None


@pytest.mark.parametrize("document", GUIDE_PAGES, ids=lambda p: p.name)
def test_every_ragd_command_a_guide_page_names_exists(document: Path) -> None:
    cli = _cli()
    invocations = [args for seg in code_segments(document) for args in ragd_invocations(seg)]
    if document.name != "README.md":
        assert invocations, f"no ragd command found in {document.name}: the extraction is broken"
    wrong = sorted({why for args in invocations if (why := unknown_ragd_usage(args, cli))})
    assert not wrong, f"{document.name} shows ragd commands that do not exist: {wrong}"


def test_every_guide_has_its_page_in_the_index_and_the_index_is_linked() -> None:
    pages = [p for p in GUIDE_PAGES if p.name != "README.md"]
    assert pages and all(GUIDE_PAGE_NAME.match(p.name) for p in pages), [p.name for p in pages]
    index = (GUIDES / "README.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in pages if f"]({p.name})" not in index]
    assert not unlisted, f"docs/guides/README.md does not link {unlisted}"
    for linking in (ROOT / "README.md", ROOT / "docs" / "deploy.md"):
        text = linking.read_text(encoding="utf-8")
        assert "guides/README.md" in text, f"{linking.name} does not link docs/guides/README.md"


def _map_lines() -> list[str]:
    section = ARCHITECTURE.read_text(encoding="utf-8").split("\n## Module map", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def documented_modules() -> set[str]:
    """The paths the module map lists, relative to ``src/ragd`` (directories end in ``/``)."""
    lines = _map_lines()
    assert lines[0].strip() == "src/ragd/", "the module map starts at src/ragd/"
    stack: list[str] = []
    found = set()
    for line in lines[1:]:
        match = MAP_ENTRY.match(line)
        assert match, f"not a line of the tree: {line!r}"
        del stack[len(match.group("indent")) // 4 :]
        stack.append(match.group("name"))
        found.add("".join(stack))
    return found


def real_modules() -> set[str]:
    """Every module and directory of ``src/ragd`` but the ``__init__.py`` files (a
    package's line stands for it), relative to ``src/ragd``."""
    found = set()
    for path in SRC.rglob("*"):
        if "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        parent = path.parent
        if not ((parent / "__init__.py").exists() or parent.name == "versions"):
            continue  # the contents of data directories (assets/, static/)
        rel = path.relative_to(SRC).as_posix()
        if path.is_dir():
            found.add(rel + "/")
        elif path.suffix == ".py":
            found.add(rel)
    return found


def test_the_module_map_lists_every_module_and_nothing_else() -> None:
    documented, real = documented_modules(), real_modules()
    assert len(documented) > 100, "the module map was not found or not parsed"
    missing, extra = sorted(real - documented), sorted(documented - real)
    assert not missing and not extra, (
        "docs/architecture.md#module-map is out of date: "
        f"add a line for {missing}, remove the line of {extra}"
    )


def test_the_module_map_says_what_each_module_is() -> None:
    bare = [line for line in _map_lines()[1:] if len(line.split()) < 3]
    assert not bare, f"module map lines without a description: {bare}"


def _repository_text_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    for top in ("src", "tests", "docs", "deploy", "bench", "scripts"):
        files += [
            path
            for path in (ROOT / top).rglob("*")
            if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".sh", ".js"}
        ]
    return [f for f in files if f != Path(__file__).resolve()]  # this file quotes the forms


def test_every_architecture_anchor_cited_exists() -> None:
    known = anchors(ARCHITECTURE)
    cited = {
        (path.relative_to(ROOT).as_posix(), match.group("anchor"))
        for path in _repository_text_files()
        for match in ANCHOR_REF.finditer(path.read_text(encoding="utf-8", errors="replace"))
    }
    assert cited, "no architecture.md#anchor cited anywhere: the search is broken"
    unknown = sorted((where, a) for where, a in cited if a not in known)
    assert not unknown, f"anchors that docs/architecture.md does not have: {unknown}"


def test_no_reference_to_the_design_document_outside_the_repository() -> None:
    cited = [
        f"{path.relative_to(ROOT).as_posix()}:{n}"
        for path in _repository_text_files()
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if DESIGN_REF.search(line)
    ]
    assert not cited, f"cite docs/architecture.md instead of the design document: {cited}"


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """Each extraction sees what it looks for, and a wrong name is caught."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "See `src/ragd/nowhere.py`, tests/unit/test_docs_paths.py::test_nothing_by_that_name,\n"
        "`tests/contract/test_<port>_contract.py` (a template) and [x](#a-heading).\n\n"
        "## A heading\n\n"
        "```\nsrc/ragd/services/   use cases: querying.py, gone.py,\n"
        "                     and index_sync.py\n```\n",
        encoding="utf-8",
    )
    named = named_paths(doc)
    assert ("src/ragd/nowhere.py", None) in named
    assert ("tests/unit/test_docs_paths.py", "test_nothing_by_that_name") in named
    assert not any("<" in p or p.endswith("test_") for p, _ in named)
    assert not resolve("src/ragd/nowhere.py").exists()
    assert not defines(resolve("tests/unit/test_docs_paths.py"), "test_nothing_by_that_name")
    assert defines(resolve("tests/unit/test_docs_paths.py"), "test_the_checks_can_fail")
    in_layout = layout_names(doc)
    assert [n for _, n in in_layout] == ["querying.py", "gone.py", "index_sync.py"]
    assert [n for d, n in in_layout if not inside(d, n)] == ["gone.py"]
    assert inside("src/ragd/adapters/", "sqlite/memory/")
    assert not inside("src/ragd/", "sqlite.py")
    assert anchors(doc) == {"a-heading"}
    assert slug("Where are the tests for X") == "where-are-the-tests-for-x"
    assert slug("Walk 1: a question") == "walk-1-a-question"
    assert DESIGN_REF.search("as DESIGN §6 says")
    assert not DESIGN_REF.search("DESIGN_METRICS")


def test_the_guide_page_checks_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guide page's own paths and ragd commands are checked, its quotes are not."""
    monkeypatch.setattr(sys.modules[__name__], "GUIDES", tmp_path)
    page = tmp_path / "000_0123456789abcdef.md"
    page.write_text(
        "> `kubectl apply -k deploy/kubernetes/` and `ragd frobnicate`\n\n"
        "| guide | ragd |\n|---|---|\n| `deploy/kubernetes/hpa.yaml` | `deploy/k8s/nowhere` |\n\n"
        "Run `kubectl exec deploy/ragd-api -n ragd -- ragd health --detailed --nope`.\n\n"
        "```bash\nRAGD_X=1 ragd config check && ragd migrate --current\n"
        "helm upgrade --install ragd deploy/helm/ragd\nragd docs nosuch\n```\n",
        encoding="utf-8",
    )
    paths = [p for p, _ in named_paths(page)]
    assert "deploy/k8s/nowhere" in paths and "deploy/helm/ragd" in paths
    assert not any("kubernetes" in p for p in paths), "quotes and guide cells are exempt"
    invocations = [a for seg in code_segments(page) for a in ragd_invocations(seg)]
    assert ["health", "--detailed", "--nope"] in invocations
    assert ["config", "check"] in invocations and ["migrate", "--current"] in invocations
    assert not any(a[0] in ("frobnicate", "deploy") for a in invocations)
    cli = _cli()
    assert (
        unknown_ragd_usage(["health", "--detailed", "--nope"], cli)
        == "ragd health: no option --nope"
    )
    assert unknown_ragd_usage(["docs", "nosuch"], cli) == "ragd docs nosuch: no such command"
    assert unknown_ragd_usage(["config", "check"], cli) is None
    assert unknown_ragd_usage(["migrate", "--to", "-1", "--yes"], cli) is None
