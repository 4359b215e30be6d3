"""What the manifests give ragd passes its own configuration audit (issue 18's refusals,
issue 17's settings): every overlay and every values file of the chart, with the API
container's environment assembled as the kubelet would (its ConfigMap, the Secret when
the rendering makes one, ``env`` entries), given to ``ragd config check --json``.

Where the Secret is made outside the rendering (``ragd-secrets``, documented in
deploy/k8s/base/secret.template.yaml), it is filled as an operator following that
template would, with real-looking values for the keys it lists and nothing else: the
template's optional keys are left out, as it says."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.test_deploy_guides import ALL_COMPONENTS, CHART, OVERLAYS, helm, kustomize
from tests.deploy.test_guide_environments import check

pytestmark = pytest.mark.deploy

DEVELOPMENT = {"development", "dev", "local", "test", "testing"}
VALUES_FILES = sorted(p.name for p in CHART.glob("values-*.yaml"))


def operator_secret(docs: list[dict[str, Any]]) -> dict[str, str]:
    """ragd-secrets as the template's reader makes it for this rendering."""
    password = secrets.token_hex(12)
    names = {d["metadata"]["name"] for d in docs if d["kind"] in ("StatefulSet", "Service")}
    if "redis-sentinel" in names:  # components/redis-sentinel
        redis = {"REDIS_URL": "redis+sentinel://redis-sentinel:26379/mymaster/0"}
        redis["REDIS_PASSWORD"] = password
    elif "redis" in names:  # components/redis
        redis = {"REDIS_URL": "redis://redis:6379/0", "REDIS_PASSWORD": password}
    else:
        redis = {"REDIS_URL": "redis://redis.example.internal:6379/0"}
    return {
        "DATABASE_URL": f"postgresql+psycopg://ragd:{secrets.token_hex(12)}@postgres:5432/ragd",
        "JWT_SECRET": secrets.token_hex(32),
        "OPENAI_API_KEY": "sk-" + secrets.token_hex(20),
        **redis,
    }


def api_environment(docs: list[dict[str, Any]]) -> dict[str, str]:
    def named(kind: str, name: str) -> dict[str, Any] | None:
        return next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)

    def secret_data(name: str) -> dict[str, str]:
        made = named("Secret", name)
        if made is None:
            return operator_secret(docs)
        data = {k: base64.b64decode(v).decode() for k, v in (made.get("data") or {}).items()}
        return {**data, **{k: str(v) for k, v in (made.get("stringData") or {}).items()}}

    api = next(
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"].split("-")[-1] != "worker"
        and (d["spec"]["template"]["metadata"].get("labels") or {}).get(
            "app.kubernetes.io/component"
        ) == "api"
    )  # fmt: skip
    container = api["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            cm = named("ConfigMap", source["configMapRef"]["name"])
            assert cm is not None, source
            env.update({k: str(v) for k, v in cm.get("data", {}).items()})
        if "secretRef" in source:
            env.update(secret_data(source["secretRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif (ref := (item.get("valueFrom") or {}).get("secretKeyRef")) and (
            value := secret_data(ref["name"]).get(ref["key"])
        ) is not None:
            env[item["name"]] = value
    return env


RENDERINGS: dict[str, Any] = {
    **{path: (lambda path=path: kustomize(path)) for path in sorted(OVERLAYS)},
    **{f"overlays/{o}": (lambda o=o: kustomize(f"overlays/{o}")) for o in ("dev", "staging", "production")},
    "helm (defaults)": lambda: helm("ragd", "ragd"),
    **{f"helm {v}": (lambda v=v: helm("ragd", "ragd", "-f", str(CHART / v))) for v in VALUES_FILES},
    f"helm {ALL_COMPONENTS.name}": lambda: helm("ragd", "ragd", "-f", str(ALL_COMPONENTS)),
}  # fmt: skip


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_rendered_environment_passes_ragd_config_check(rendering: str, tmp_path: Path) -> None:
    env = api_environment(RENDERINGS[rendering]())
    rc, report = check(env, tmp_path)
    assert report["errors"] == [], (rendering, report["errors"])
    assert rc == 0
    if env.get("ENVIRONMENT", "development").lower() not in DEVELOPMENT:
        assert not [w for w in report["warnings"] if "placeholder" in w], report["warnings"]


def test_the_secret_template_ships_no_empty_value() -> None:
    """An empty value is a placeholder to the audit (refused outside development): the
    template's optional keys are comments, not empty strings."""
    template = yaml.safe_load((CHART.parents[1] / "k8s/base/secret.template.yaml").read_text())
    assert all(str(v).strip() for v in template["stringData"].values()), template["stringData"]
