"""The guardrails of scripts/test.sh catch what they exist to catch.

``lint-imports`` runs with the project's own contracts (``[tool.importlinter]`` in
pyproject.toml) on a copy of ``src/ragd`` with one deliberate violation added, and ``mypy``
with the project's ``[tool.mypy]`` on a tiny tree of typing mistakes. A check that
passed everything would fail these tests; so would one that failed the unmodified tree.
Both tools run as subprocesses on throw-away copies, never on the working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
BIN = Path(sys.executable).parent

LAYERS = "Layers: cli -> api -> worker -> services -> ports -> domain -> errors"
ONLY_CONTAINER = "Only the container (and registries inside ragd.adapters) imports adapters"
ADAPTERS = "Adapters implement ports; they never call services or the entry points"
PURE = "Domain and ports are pure: only ragd.errors, no settings, I/O or web SDKs"
UTILITIES = "Shared utilities (config, observability, errors) import no layer above them"
NO_WEB = "Services never import the web framework"
CONTRACTS = [LAYERS, ONLY_CONTAINER, ADAPTERS, PURE, UTILITIES, NO_WEB]


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable} (test extra)"
    return str(path)


def _copy_src(tmp_path: Path) -> Path:
    """A copy of the real ``src/ragd``; returns the copy's ``ragd`` directory."""
    dest = tmp_path / "src" / "ragd"
    shutil.copytree(
        ROOT / "src" / "ragd", dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return dest


def _lint_imports(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's config, resolving ``ragd`` to the copy."""
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run(
        [_tool("lint-imports"), str(PYPROJECT), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _verdicts(output: str) -> dict[str, str]:
    """Contract name -> KEPT / BROKEN, from lint-imports' summary lines."""
    found = {}
    for name in CONTRACTS:
        match = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)", output, re.MULTILINE)
        assert match, f"no verdict for {name!r} in:\n{output}"
        found[name] = match.group(1)
    return found


def test_the_unmodified_tree_keeps_every_contract(tmp_path: Path) -> None:
    _copy_src(tmp_path)
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_verdicts(result.stdout).values()) == {"KEPT"}


@pytest.mark.parametrize(
    ("path", "source", "broken"),
    [
        pytest.param(
            "domain/bad.py",
            "import ragd.adapters.sql.store\n",
            ONLY_CONTAINER,
            id="domain-adapters",
        ),
        pytest.param(
            "domain/bad.py", "import ragd.services.search\n", LAYERS, id="domain-services"
        ),
        pytest.param("domain/bad.py", "import ragd.config\n", PURE, id="domain-config"),
        pytest.param("ports/bad.py", "import sqlalchemy\n", PURE, id="ports-sqlalchemy"),
        pytest.param(
            "services/bad.py", "import ragd.adapters.index\n", ONLY_CONTAINER, id="service-adapter"
        ),
        pytest.param("services/bad.py", "import fastapi\n", NO_WEB, id="service-fastapi"),
        pytest.param("services/bad.py", "import ragd.api.app\n", LAYERS, id="service-api"),
        pytest.param("worker.py", "import ragd.api.app\n", LAYERS, id="worker-api"),
        pytest.param("worker.py", "import ragd.cli\n", LAYERS, id="worker-cli"),
        pytest.param(
            "adapters/bad.py", "import ragd.services.search\n", ADAPTERS, id="adapter-service"
        ),
        pytest.param("config.py", "import ragd.services.search\n", UTILITIES, id="config-services"),
        pytest.param(
            "observability/bad.py", "import ragd.api.app\n", UTILITIES, id="observability-api"
        ),
    ],
)
def test_a_violation_breaks_its_contract(
    tmp_path: Path, path: str, source: str, broken: str
) -> None:
    target = _copy_src(tmp_path) / path
    # A new module, or an import appended to an existing one (worker.py, config.py).
    target.write_text((target.read_text() + "\n" if target.exists() else "") + source)
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    verdicts = _verdicts(result.stdout)
    assert verdicts[broken] == "BROKEN", result.stdout
    # Broken by the planted import; any other contract it breaks (through an indirect
    # chain) is broken by the planted module too, never by something else.
    importer = "ragd." + path.removesuffix(".py").replace("/", ".")
    imported = source.split()[1]
    assert f"{importer} -> {imported}" in _report_of(result.stdout, broken), result.stdout
    for name, verdict in verdicts.items():
        if verdict == "BROKEN":
            assert importer in _report_of(result.stdout, name), result.stdout


def _report_of(output: str, contract: str) -> str:
    """The section of lint-imports' output that explains why ``contract`` broke."""
    details = output.split("Broken contracts", 1)[1]
    start = details.index(f"\n{contract}\n")
    rest = details[start + len(contract) + 2 :]
    ends = [rest.find(f"\n{other}\n") for other in CONTRACTS if other != contract]
    return rest[: min([e for e in ends if e >= 0], default=len(rest))]


def test_the_contracts_hold_for_the_cli_as_a_package(tmp_path: Path) -> None:
    """``ragd.cli`` is a package: every submodule of it is in the top layer."""
    pkg = _copy_src(tmp_path)
    assert (pkg / "cli" / "__init__.py").is_file()
    (pkg / "cli" / "extra.py").write_text("import ragd.api.app\nimport ragd.worker\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    (pkg / "api" / "bad.py").write_text("import ragd.cli.extra\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _verdicts(result.stdout)[LAYERS] == "BROKEN"


# mypy: a tiny package named ragd so that the per-module settings of pyproject apply.
_GOOD = {
    "domain/typed.py": "def double(x: int) -> int:\n    return 2 * x\n",
    # Returning Any is an error only where the strict flags are on (domain), not in api.
    "api/returns_any.py": "from typing import Any\n\n\ndef f(x: Any) -> int:\n    return x\n",
}
_BAD = {
    "domain/returns_any.py": (
        "from typing import Any\n\n\ndef f(x: Any) -> int:\n    return x\n",
        "no-any-return",
    ),
    "ports/wrong.py": ("def f(x: int) -> str:\n    return x\n", "return-value"),
    "services/untyped.py": ("def f(x):\n    return x\n", "no-untyped-def"),
    "adapters/stale_ignore.py": ("x: int = 1  # type: ignore[assignment]\n", "unused-ignore"),
}


def _tiny_tree(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "ragd"
    for sub in ("", "domain", "ports", "services", "adapters", "api"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    return pkg


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both runs: the second reuses the first's standard library."""
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(pkg: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(PYPROJECT),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            str(pkg),
        ],
        cwd=pkg.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mypy_passes_typed_code(tmp_path: Path, mypy_cache: Path) -> None:
    result = _mypy(_tiny_tree(tmp_path, _GOOD), mypy_cache)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_fails_each_kind_of_mistake(tmp_path: Path, mypy_cache: Path) -> None:
    pkg = _tiny_tree(tmp_path, {**_GOOD, **{rel: text for rel, (text, _) in _BAD.items()}})
    result = _mypy(pkg, mypy_cache)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = {
        (Path(m.group(1)).as_posix(), m.group(2))
        for m in re.finditer(r"^(\S+?\.py):\d+: error: .*\[([a-z-]+)\]$", result.stdout, re.M)
    }
    expected = {(f"ragd/{rel}", code) for rel, (_, code) in _BAD.items()}
    assert errors == expected, result.stdout
