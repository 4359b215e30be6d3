"""The client's real IP behind the ingress: FORWARDED_ALLOW_IPS in every rendering.

``ragd serve`` trusts X-Forwarded-For only from the peers FORWARDED_ALLOW_IPS names
(tests/observability/test_guide_log_lines.py shows both sides on a live server); the
manifests set it wherever the API runs, so audit entries and logs carry the client's
address instead of the ingress controller's.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.tools import ROOT, check, tool

pytestmark = pytest.mark.deploy


def config_of(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    return [d for d in docs if d["kind"] == "ConfigMap" and "LOG_FORMAT" in d.get("data", {})]


@pytest.mark.parametrize("overlay", ["base", "overlays/production", "overlays/canary"])
def test_kustomize_sets_forwarded_allow_ips(overlay: str) -> None:
    maps = config_of(check(tool("kubectl"), "kustomize", str(ROOT / "deploy" / "k8s" / overlay)))
    assert maps and all(m["data"].get("FORWARDED_ALLOW_IPS") == "*" for m in maps)


def test_helm_sets_forwarded_allow_ips() -> None:
    out = check(
        tool("helm"), "template", "ragd", str(ROOT / "deploy" / "helm" / "ragd"),
        "--set", "secrets.existingSecret=ragd-secrets",
    )  # fmt: skip
    maps = config_of(out)
    assert maps and all(m["data"].get("FORWARDED_ALLOW_IPS") == "*" for m in maps)
