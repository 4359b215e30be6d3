"""The backup CronJob in the Helm chart and the kustomize component, and the image it runs.

Rendered as an operator would switch it on (``backup.enabled``; the component added to an
overlay), validated against the Kubernetes schemas, and checked for what a schema cannot
see: every variable it sets is one ragd reads, every ConfigMap, Secret and service account
it names exists in the same rendering (or is marked optional), its pods fall under the
release's NetworkPolicies, and it runs ``ragd backup`` in the ragd image.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from ragd.config import Settings
from tests.deploy.manifest_checks import Endpoint, Traffic, outside, pods
from tests.deploy.tools import ROOT, check, run, tool

pytestmark = pytest.mark.deploy

CHART = ROOT / "deploy" / "helm" / "ragd"
K8S = ROOT / "deploy" / "k8s"


def ragd_env_names() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(c) for c in alias.choices)
    return names


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm(*sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    return docs_of(
        check(tool("helm"), "template", "ragd", str(CHART), "--namespace", "ragd", *args)
    )


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def check_cronjob(docs: list[dict[str, Any]], *, secrets: set[str]) -> dict[str, Any]:
    """Schema-valid, names resolvable, env names real; returns the container."""
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    for doc in docs:
        if doc["kind"] in ("CronJob", "NetworkPolicy", "ConfigMap"):
            kubernetes_validate.validate(
                doc, kubernetes_validate.utils.latest_version(), strict=True
            )
    spec = pod_spec(cron)
    (container,) = spec["containers"]
    assert container["args"] == ["backup"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    assert spec["serviceAccountName"] in accounts
    known = ragd_env_names()
    set_here: set[str] = {e["name"] for e in container.get("env", [])}
    for source in container["envFrom"]:
        if ref := source.get("configMapRef"):
            assert ref["name"] in configmaps, f"ConfigMap {ref['name']} is not rendered"
            set_here |= set(configmaps[ref["name"]]["data"])
        else:
            ref = source["secretRef"]
            assert ref["name"] in secrets or ref.get("optional"), ref
    backup_names = {n for n in set_here if "BACKUP" in n or n.startswith("AWS_")}
    assert "RAGD_BACKUP_BUCKET" in backup_names
    assert backup_names <= known, f"ragd does not read {sorted(backup_names - known)}"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/backup-work"} <= mounts  # read-only root: writable scratch only
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    check_backup_traffic(docs, cron)
    return container


def check_backup_traffic(docs: list[dict[str, Any]], cron: dict[str, Any]) -> None:
    """The backup pods (and a restore Job made from the CronJob) reach what they need under
    the rendered NetworkPolicies, evaluated as the cluster would (matchExpressions too):
    DNS, Postgres (the rendered one, or one outside the cluster) and HTTPS to the object
    store; and nothing they do not need (the cache, the index)."""
    namespace = cron["metadata"].get("namespace", "ragd")
    backup = Endpoint(
        namespace, cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    )
    traffic = Traffic(docs, namespace)
    out = Endpoint(ip="203.0.113.10")  # a public address: S3, a managed Postgres
    assert traffic.allowed(backup, outside("kube-system", {"k8s-app": "kube-dns"}), 53), "DNS"
    assert traffic.allowed(backup, out, 443), "HTTPS to the object store"
    rendered = {
        p.labels.get("app.kubernetes.io/component") or p.labels.get("app.kubernetes.io/name"): p
        for p in pods(docs, namespace)
    }
    if postgres := rendered.get("postgresql") or rendered.get("postgres"):
        db = Endpoint(postgres.namespace, postgres.labels, postgres.ports)
        assert traffic.allowed(backup, db, 5432), "the rendered Postgres"
    else:
        assert traffic.allowed(backup, out, 5432), "Postgres outside the cluster"
    for name, port in (("redis", 6379), ("qdrant", 6333)):
        if store := rendered.get(name):
            peer = Endpoint(store.namespace, store.labels, store.ports)
            assert not traffic.allowed(backup, peer, port), f"backup pods reach {name}"


def test_helm_backup_cronjob_renders_and_resolves() -> None:
    assert not [d for d in helm("secrets.existingSecret=ragd-secrets") if d["kind"] == "CronJob"], (
        "off by default"
    )
    docs = helm(
        "secrets.existingSecret=ragd-secrets",
        "backup.enabled=true",
        "backup.bucket=ragd-backups",
        "backup.endpointUrl=http://minio.storage:9000",
        "backup.s3AddressingStyle=path",
        "backup.credentialsSecret=ragd-backup-credentials",
        "backup.egressPorts={9000}",
    )
    # Both Secrets come from outside the chart (the secret store): named by the values.
    container = check_cronjob(docs, secrets={"ragd-secrets", "ragd-backup-credentials"})
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AWS_ENDPOINT_URL"] == "http://minio.storage:9000"
    assert (env["RAGD_BACKUP_KEEP_DAILY"], env["RAGD_BACKUP_KEEP_WEEKLY"]) == ("7", "4")
    egress = [d for d in docs if d["metadata"]["name"] == "ragd-backup-egress"]
    assert egress and {"protocol": "TCP", "port": 9000} in [
        port for rule in egress[0]["spec"]["egress"] for port in rule.get("ports", [])
    ]
    backup = Endpoint("ragd", pod_labels_of(docs))
    minio = outside("storage", {"app": "minio"})
    assert Traffic(docs, "ragd").allowed(backup, minio, 9000), "in-cluster object storage"


def test_helm_backup_reaches_the_charts_postgres() -> None:
    """With the datastores in the chart: the in-chart Postgres admits the backup pods, and
    the cache and index do not."""
    docs = helm(
        "secrets.existingSecret=ragd-secrets",
        "backup.enabled=true",
        "backup.bucket=ragd-backups",
        "postgresql.enabled=true",
        "postgresql.auth.adminPassword=admin-secret",
        "postgresql.auth.password=ragd-secret",
        "redis.enabled=true",
        "qdrant.enabled=true",
    )
    check_cronjob(docs, secrets={"ragd-secrets"})


def pod_labels_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    return cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


def test_helm_refuses_a_backup_without_a_bucket() -> None:
    proc = run(
        tool("helm"), "template", "ragd", str(CHART), "--set", "backup.enabled=true",
        "--set", "secrets.existingSecret=ragd-secrets",
    )  # fmt: skip
    assert proc.returncode != 0 and "backup.bucket is required" in proc.stderr


def test_kustomize_backup_component_in_an_overlay(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "production" / "kustomization.yaml"
    text = overlay.read_text()
    assert "  - ../../components/production\n" in text
    overlay.write_text(
        text.replace(
            "  - ../../components/production\n",
            "  - ../../components/production\n  - ../../components/backup\n",
        )
    )
    docs = docs_of(check(tool("kubectl"), "kustomize", str(overlay.parent)))
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    assert cron["metadata"]["namespace"] == "ragd"
    container = check_cronjob(docs, secrets={"ragd-secrets"})
    assert container["image"].startswith("registry.example.com/ragd:")


def test_image_carries_the_backup_tools() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "boto3" in text and "postgresql-client-${PG_CLIENT_MAJOR}" in text
    assert "ARG PG_CLIENT_MAJOR=17" in text
    assert "pg_dump --version" in text  # the build fails if the client did not install
