"""Each operator's guide rendered with ragd, and the chart's defaults (issue 18).

Every rendering is checked three ways: each object against its schema (Kubernetes, the
prometheus-operator and Istio CRDs; KEDA's and VPA's structurally: see `_structural`), every
reference resolvable (tests/deploy/manifest_checks.py), and the NetworkPolicies letting the
guide's traffic through and nothing more. The namespaces, ports and hosts are the guides'
(copied here, each with the guide file and section it comes from; the tests do not read the
guides).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifest_checks import (
    EXTERNAL,
    Endpoint,
    Traffic,
    endpoint,
    outside,
    reference_errors,
)
from tests.deploy.tools import ROOT, check, node_modules, run, tool

pytestmark = pytest.mark.deploy

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CHART = DEPLOY / "helm" / "ragd"
ALL_COMPONENTS = ROOT / "tests" / "deploy" / "helm-all-components.yaml"
CRD_GROUPS = ("monitoring.coreos.com", "networking.istio.io", "security.istio.io")
K8S_VERSION = kubernetes_validate.utils.latest_version()

# Made before the install, as documented in deploy/k8s/base/secret.template.yaml,
# secrets-components.template.yaml, and the TLS certificates cert-manager issues.
DOCUMENTED = {
    ("Secret", "ragd-secrets"), ("Secret", "ragd-postgresql"), ("Secret", "ragd-alertmanager"),
    ("Secret", "ragd-tls"),
}  # fmt: skip


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@functools.cache
def kustomize(path: str) -> list[dict[str, Any]]:
    return docs_of(check(tool("kubectl"), "kustomize", str(K8S / path)))


@functools.cache
def helm(release: str, namespace: str, *args: str) -> list[dict[str, Any]]:
    out = check(tool("helm"), "template", release, str(CHART), "--namespace", namespace, *args)
    docs = docs_of(out)
    for d in docs:  # helm template leaves namespaced objects without one: the release's
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            d["metadata"].setdefault("namespace", namespace)
    return docs


def _structural(doc: dict[str, Any]) -> list[str]:
    """KEDA ScaledObject and VPA: no JSON schema for them is installed offline (the
    @kubernetes-models packages cover prometheus-operator and Istio only), so their required
    fields and types are checked here, after keda.sh/v1alpha1 and autoscaling.k8s.io/v1."""
    what = f"{doc['kind']}/{doc['metadata']['name']}"
    errors = []
    spec = doc.get("spec", {})
    if doc["kind"] == "ScaledObject":
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        ref = spec.get("scaleTargetRef", {})
        if not isinstance(ref.get("name"), str):
            errors.append(f"{what}: scaleTargetRef.name is required")
        for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
            if key in spec and not isinstance(spec[key], int):
                errors.append(f"{what}: {key} must be an integer")
        if not spec.get("triggers"):
            errors.append(f"{what}: triggers are required")
        for t in spec.get("triggers", []):
            meta = t.get("metadata", {})
            if t.get("type") not in ("prometheus", "cpu", "memory"):
                errors.append(f"{what}: unexpected trigger {t.get('type')}")
            if not all(isinstance(v, str) for v in meta.values()):
                errors.append(f"{what}: trigger metadata values must be strings")
            if t.get("type") == "prometheus" and not {"serverAddress", "query", "threshold"} <= set(
                meta
            ):
                errors.append(f"{what}: a prometheus trigger needs serverAddress, query, threshold")
            if t.get("metricType") not in (None, "AverageValue", "Value", "Utilization"):
                errors.append(f"{what}: metricType {t.get('metricType')}")
        behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
        if behavior:  # the HPA's own behavior schema applies
            hpa = {
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "x"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 2,
                         "behavior": behavior},
            }  # fmt: skip
            try:
                kubernetes_validate.validate(hpa, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{what}: behavior: {exc.message}")
    elif doc["kind"] == "VerticalPodAutoscaler":
        assert doc["apiVersion"] == "autoscaling.k8s.io/v1"
        if not isinstance(spec.get("targetRef", {}).get("name"), str):
            errors.append(f"{what}: targetRef.name is required")
        modes = ("Off", "Initial", "Recreate", "Auto")
        if spec.get("updatePolicy", {}).get("updateMode") not in modes:
            errors.append(f"{what}: updateMode")
        for c in spec.get("resourcePolicy", {}).get("containerPolicies", []):
            if not isinstance(c.get("containerName"), str):
                errors.append(f"{what}: containerName")
    else:
        errors.append(f"{what}: no schema for {doc['apiVersion']}")
    return errors


def schema_errors(docs: list[dict[str, Any]], tmp_path: Path) -> list[str]:
    errors, custom = [], []
    for doc in docs:
        group = doc["apiVersion"].split("/")[0]
        if group in CRD_GROUPS:
            custom.append(doc)
        elif group in ("keda.sh", "autoscaling.k8s.io"):
            errors += _structural(doc)
        else:
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")
    if custom:
        objects = tmp_path / f"custom-{len(custom)}-{id(docs)}.json"
        objects.write_text(json.dumps(custom))
        proc = run(
            tool("node"), str(ROOT / "tests" / "deploy" / "validate_crds.mjs"),
            str(node_modules()), str(objects),
        )  # fmt: skip
        results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if len(results) != len(custom):
            errors.append(proc.stderr[-2000:])
        errors += [f"{r['kind']}/{r['name']}: {r['error']}" for r in results if not r["ok"]]
    return errors


def assert_valid(
    docs: list[dict[str, Any]],
    namespace: str,
    tmp_path: Path,
    documented: Iterable[tuple[str, str]] = (),
) -> None:
    errors = schema_errors(docs, tmp_path)
    errors += reference_errors(docs, namespace, DOCUMENTED | set(documented))
    assert not errors, "\n".join(errors)


def get(docs: list[dict[str, Any]], kind: str, name: str, part: bool = False) -> dict[str, Any]:
    """The one object of that kind and name (or whose name contains `name`, with part)."""
    found = [
        d for d in docs
        if d["kind"] == kind and (name in d["metadata"]["name"] if part else d["metadata"]["name"] == name)
    ]  # fmt: skip
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def gpu_limit(statefulset: dict[str, Any]) -> str:
    return str(
        statefulset["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
            "nvidia.com/gpu"
        ]
    )


def config(docs: list[dict[str, Any]], name_start: str) -> dict[str, str]:
    found = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(name_start)
    ]
    assert found, f"no ConfigMap {name_start}*"
    return dict(found[0]["data"])


def api_port(docs: list[dict[str, Any]], api: str) -> int:
    """The API's one port: API_PORT, the container's `http` port and the probes agree."""
    deployment = get(docs, "Deployment", api)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    cm = next(e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e)
    assert config(docs, cm)["API_PORT"] == str(port)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in container:
            assert container[probe]["httpGet"]["port"] in ("http", port)
    return int(port)


INTERNET = Endpoint(ip=EXTERNAL)
DATA_PORTS = {"postgres": 5432, "redis": 6379, "qdrant": 6333, "ollama": 11434}


def assert_traffic(
    docs: list[dict[str, Any]], namespace: str, *, api: str, workers: list[str], port: int,
    ingress_ns: str, stores: dict[str, list[int]], monitoring_ns: str = "monitoring",
    metrics_port: int | None = None,
) -> None:  # fmt: skip
    """The guide's traffic gets through, and nothing more: the ingress controller reaches the
    API on its port only; the API and workers reach each store on its ports, and no store on
    another port, nor a datastore port outside the namespace; the stores take connections
    from ragd only; nobody else reaches the API."""
    net = Traffic(docs, namespace)
    api_pod = endpoint(docs, namespace, api)
    controller = outside(ingress_ns, {"app.kubernetes.io/name": "ingress-nginx"})
    stranger = outside("default")
    assert net.allowed(controller, api_pod, port), "ingress controller -> API port"
    assert not net.allowed(controller, api_pod, port + 1), "ingress controller -> another port"
    assert not net.allowed(stranger, api_pod, port), "another namespace -> API"
    if metrics_port:
        assert net.allowed(outside(monitoring_ns), api_pod, metrics_port), "Prometheus -> metrics"
        assert not net.allowed(controller, api_pod, metrics_port), "ingress -> metrics port"
    for client in [api, *workers]:
        pod = endpoint(docs, namespace, client)
        assert net.allowed(pod, INTERNET, 443), f"{client} -> HTTPS providers"
        assert not net.allowed(pod, INTERNET, 5432), f"{client} -> a datastore port outside"
        for owner, ports in stores.items():
            store = endpoint(docs, namespace, owner)
            for p in ports:
                assert net.allowed(pod, store, p), f"{client} -> {owner}:{p}"
            assert not net.allowed(pod, store, 22), f"{client} -> {owner}:22"
    for owner, ports in stores.items():
        store = endpoint(docs, namespace, owner)
        assert not net.allowed(controller, store, ports[0]), f"ingress -> {owner}"
        assert not net.allowed(stranger, store, ports[0]), f"another namespace -> {owner}"
    for worker in workers:
        assert not net.allowed(controller, endpoint(docs, namespace, worker), port), "-> worker"


# -------------------------------------------------------- chart defaults (build 4) ---
VALUES_FILES = sorted(p.name for p in CHART.glob("values*.yaml"))
# The Secrets values-rag-comprehensive.yaml documents as made beforehand (the guide's).
GUIDE_001_DOCUMENTED = {
    ("Secret", "rag-secrets"), ("Secret", "postgres-secret"), ("Secret", "rag-api-tls"),
}  # fmt: skip


def test_default_existing_secret_is_a_name() -> None:
    """The bug of issue 18: a comment merged into the value made it a name no Secret has."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    name = values["secrets"]["existingSecret"]
    assert name == "ragd-secrets"
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    assert template["metadata"]["name"] == name  # documented, with its keys


@pytest.mark.parametrize("values", ["(defaults)", *VALUES_FILES, ALL_COMPONENTS.name])
def test_chart_renders_valid_and_resolvable(values: str, tmp_path: Path) -> None:
    args = () if values == "(defaults)" else ("-f", str(CHART / values))
    if values == ALL_COMPONENTS.name:
        args = ("-f", str(ALL_COMPONENTS))
    docs = helm("ragd", "ragd", *args)
    assert_valid(
        docs, "ragd", tmp_path, GUIDE_001_DOCUMENTED if "rag-comprehensive" in values else ()
    )


def test_reference_check_catches_what_the_old_default_did(tmp_path: Path) -> None:
    """The check is not vacuous: the merged-comment Secret name, a Service selecting nothing
    and a scale target that does not exist are each reported."""
    docs = helm(
        "ragd", "ragd", "--set",
        "secrets.existingSecret=ragd-secrets DATABASE_URL and REDIS_URL are filled in",
    )  # fmt: skip
    errors = reference_errors(docs, "ragd", DOCUMENTED)
    assert any("ragd-secrets DATABASE_URL" in e for e in errors), errors
    broken = json.loads(json.dumps(helm("ragd", "ragd")))
    for d in broken:
        if d["kind"] == "Service" and d["metadata"]["name"] == "ragd":
            d["spec"]["selector"]["track"] = "blue"
        if d["kind"] == "HorizontalPodAutoscaler":
            d["spec"]["scaleTargetRef"]["name"] = "ragd-gone"
    errors = reference_errors(broken, "ragd", DOCUMENTED)
    assert any("Service/ragd selects no pod" in e for e in errors), errors
    assert any("Deployment/ragd-gone" in e for e in errors), errors


def test_chart_components_switch_on_and_egress_follows(tmp_path: Path) -> None:
    docs = helm("ragd", "ragd", "-f", str(ALL_COMPONENTS))
    data = config(docs, "ragd-config")
    assert data["VECTOR_STORE_TYPE"] == "qdrant" and data["QDRANT_URL"] == "http://ragd-qdrant:6333"
    assert data["LLM_PROVIDER"] == "ollama" and data["OLLAMA_URL"] == "http://ragd-ollama:11434"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://ragd-otel-collector:4318"
    assert data["METRICS_PORT"] == "9090"
    secret = get(docs, "Secret", "ragd-secrets")
    # ragd merges REDIS_PASSWORD into the URL (tests/integration/test_redis_sentinel.py).
    assert (
        secret["stringData"]["REDIS_URL"] == "redis+sentinel://ragd-redis-sentinel:26379/mymaster/0"
    )
    assert secret["stringData"]["REDIS_PASSWORD"] == "test-redis-only"
    ollama = get(docs, "StatefulSet", "ragd-ollama")
    assert gpu_limit(ollama) == "1"
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"], "KEDA replaces the HPAs"
    assert_traffic(
        docs, "ragd", api="Deployment/ragd-api", workers=["Deployment/ragd-worker"], port=8000,
        ingress_ns="ingress-nginx", metrics_port=9090,
        stores={"StatefulSet/ragd-postgresql": [5432], "StatefulSet/ragd-redis-sentinel": [6379, 26379],
                "StatefulSet/ragd-qdrant": [6333, 6334], "StatefulSet/ragd-ollama": [11434],
                "Deployment/ragd-otel-collector": [4317, 4318]},
    )  # fmt: skip
    # Ollama's port is closed while Ollama is off (the default).
    plain = helm("ragd", "ragd", "-f", str(CHART / "values-dev.yaml"))
    net = Traffic(plain, "ragd")
    api = endpoint(plain, "ragd", "Deployment/ragd-api")
    assert not net.allowed(api, Endpoint("ragd", {"app.kubernetes.io/name": "ollama"}), 11434)


def test_chart_copies_agree() -> None:
    for board in (DEPLOY / "monitoring" / "grafana" / "dashboards").glob("*.json"):
        assert (CHART / "files" / "dashboards" / board.name).read_text() == board.read_text()
    assert (CHART / "files" / "otel-collector.yaml").read_text() == (
        K8S / "components" / "tracing" / "otel-collector.yaml"
    ).read_text()
    assert (K8S / "components" / "postgres" / "init-ragd-role.sh").read_text() == (
        CHART / "files" / "init-ragd-role.sh"
    ).read_text()


def test_chart_port_is_one_value(tmp_path: Path) -> None:
    docs = helm("ragd", "ragd", "--set", "api.port=8910")
    assert api_port(docs, "ragd-api") == 8910
    net = Traffic(docs, "ragd")
    pod = endpoint(docs, "ragd", "Deployment/ragd-api")
    assert net.allowed(outside("ingress-nginx"), pod, 8910)
    assert not net.allowed(outside("ingress-nginx"), pod, 8000)


def test_chart_no_operator_option(tmp_path: Path) -> None:
    docs = helm(
        "ragd", "ragd", "--set", "metrics.port=9090", "--set", "metrics.podAnnotations=true",
        "--set", "monitoring.serviceMonitor.enabled=false",
        "--set", "monitoring.prometheusRule.enabled=false",
    )  # fmt: skip
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com")]
    api = get(docs, "Deployment", "ragd-api")
    notes = api["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/port"] == "9090"
    assert_valid(docs, "ragd", tmp_path)


# ------------------------------------------------------------ kustomize namespaces ---
# Namespaces of the guides: 000 "Phase 2: Security Configuration" (sentio-rag), 002
# "Namespace Configuration" (aegis-rag), 003 "Namespace Strategy" (doc-rag-prod),
# 004 "2. Create Kubernetes Namespace and Secrets" / HPA commands (genai-platform).
OVERLAYS = {
    "overlays/sentio-rag": "sentio-rag", "overlays/sentio-rag/green": "sentio-rag",
    "overlays/sentio-rag/canary": "sentio-rag", "overlays/aegis-rag": "aegis-rag",
    "overlays/aegis-rag/green": "aegis-rag", "overlays/doc-rag-prod": "doc-rag-prod",
    "overlays/doc-rag-prod/green": "doc-rag-prod", "overlays/doc-rag-prod/canary": "doc-rag-prod",
    "overlays/genai-platform": "genai-platform", "overlays/keda": "ragd-keda",
    "overlays/istio": "ragd", "overlays/canary-istio": "ragd",
}  # fmt: skip


@pytest.mark.parametrize("path", sorted(OVERLAYS))
def test_overlay_valid_and_resolvable_in_its_namespace(path: str, tmp_path: Path) -> None:
    namespace = OVERLAYS[path]
    docs = kustomize(path)
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == namespace, (
                f"{d['kind']}/{d['metadata']['name']}"
            )
    # A canary overlay goes next to a live track: the objects it shares with it exist there.
    shared = set()
    if path.endswith("canary") or path == "overlays/canary-istio":
        shared = {("ServiceAccount", "ragd"), ("Service", "ragd")}
    assert_valid(docs, namespace, tmp_path, shared)


# ----------------------------------------------------------------------- the guides ---
def test_guide_000_sentio_vnext(tmp_path: Path) -> None:
    """Kustomize in sentio-rag; Qdrant cluster, Redis Sentinel, Jina + OpenAI, blue/green and
    canary, VPA/HPA. (000_25c16473dff3e6c4.txt, "Phase 3: Data Layer Deployment",
    "Strategy 2/3", "5.1 Auto-scaling Setup", "Performance Tuning".)"""
    ns = "sentio-rag"
    for color in ("blue", "green"):
        path = "overlays/sentio-rag" + ("" if color == "blue" else "/green")
        docs = kustomize(path)
        live = get(docs, "Service", "ragd")
        assert live["spec"]["selector"]["track"] == color
        assert api_port(docs, f"ragd-api-{color}") == 8000  # the guide's port
        data = config(docs, f"ragd-config-{color}")
        assert data["VECTOR_STORE_TYPE"] == "qdrant" and data["QDRANT_URL"] == "http://qdrant:6333"
        assert data["EMBEDDING_MODEL"].startswith("jina:") and data["LLM_PROVIDER"] == "openai"
        assert data["UVICORN_WORKERS"] == "4" and data["QDRANT_TIMEOUT"] == "30"
        qdrant = get(docs, "StatefulSet", "qdrant")
        assert qdrant["spec"]["replicas"] == 3 and qdrant["spec"]["volumeClaimTemplates"]
        kinds = {d["kind"] for d in docs}
        assert {"VerticalPodAutoscaler", "HorizontalPodAutoscaler", "AlertmanagerConfig"} <= kinds
        hpa = get(docs, "HorizontalPodAutoscaler", "api", part=True)
        assert hpa["spec"]["behavior"]["scaleUp"]["policies"][0] == {
            "type": "Percent", "value": 100, "periodSeconds": 30,
        }  # the guide's "Cost-aware HPA configuration"  # fmt: skip
        vpa = get(docs, "VerticalPodAutoscaler", "api", part=True)
        assert vpa["spec"]["targetRef"]["name"] == f"ragd-api-{color}"
        assert_traffic(
            docs, ns, api=f"Deployment/ragd-api-{color}", workers=[f"Deployment/ragd-worker-{color}"],
            port=8000, ingress_ns="ingress-nginx",
            stores={"StatefulSet/qdrant": [6333, 6334], "StatefulSet/redis": [6379, 26379],
                    "StatefulSet/postgres": [5432], "Deployment/otel-collector": [4317, 4318]},
        )  # fmt: skip
    canary = kustomize("overlays/sentio-rag/canary")
    ingress = next(d for d in canary if d["kind"] == "Ingress")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "5"
    assert config(canary, "ragd-config-canary")["VECTOR_STORE_TYPE"] == "qdrant"


def test_guide_001_rag_comprehensive_helm(tmp_path: Path) -> None:
    """Helm for staging and production, Postgres + pgvector and Redis in the release, metrics
    on 9090 with prometheus.io annotations, rate-limited ingress, canary via Helm at 10%.
    (001_4978daaf66d21a29.txt, "Helm Chart", "Helm Deployment Commands", "Deploy to
    Production (Canary)": namespaces rag-system, rag-staging, rag-production.)"""
    values = str(CHART / "values-rag-comprehensive.yaml")
    documented = GUIDE_001_DOCUMENTED
    for ns in ("rag-system", "rag-staging", "rag-production"):
        docs = helm("rag-system", ns, "-f", values)
        assert_valid(docs, ns, tmp_path, documented)
        assert api_port(docs, "rag-system-ragd-api") == 8000
        api = get(docs, "Deployment", "rag-system-ragd-api")
        notes = api["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/port"] == "9090" and notes["prometheus.io/path"] == "/metrics"
        ingress = next(d for d in docs if d["kind"] == "Ingress")
        assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rps"] == "100"
        assert ingress["spec"]["rules"][0]["host"] == "api.rag-system.com"
        assert config(docs, "rag-system-ragd-config")["SIMILARITY_THRESHOLD"] == "0.7"
        assert_traffic(
            docs, ns, api="Deployment/rag-system-ragd-api", workers=["Deployment/rag-system-ragd-worker"],
            port=8000, ingress_ns="ingress-nginx", metrics_port=9090,
            stores={"StatefulSet/rag-system-ragd-postgresql": [5432],
                    "StatefulSet/rag-system-ragd-redis": [6379]},
        )  # fmt: skip
    # The canary release next to the stable one, both in rag-production.
    canary = helm(
        "rag-system-canary", "rag-production", "-f", values, "--set", "canary.enabled=true",
        "--set", "canary.weight=10", "--set", "canary.stableRelease=rag-system",
    )  # fmt: skip
    stable = helm("rag-system", "rag-production", "-f", values)
    assert not [d for d in canary if d["kind"] in ("StatefulSet", "PrometheusRule")]
    ingress = next(d for d in canary if d["kind"] == "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    stable_host = next(d for d in stable if d["kind"] == "Ingress")["spec"]["rules"][0]["host"]
    assert ingress["spec"]["rules"][0]["host"] == stable_host
    both = stable + canary
    assert_valid(both, "rag-production", tmp_path, documented)
    assert_traffic(
        both, "rag-production", api="Deployment/rag-system-canary-ragd-api",
        workers=["Deployment/rag-system-canary-ragd-worker"], port=8000,
        ingress_ns="ingress-nginx", metrics_port=9090,
        stores={"StatefulSet/rag-system-ragd-postgresql": [5432],
                "StatefulSet/rag-system-ragd-redis": [6379]},
    )  # fmt: skip


def test_guide_002_aegis(tmp_path: Path) -> None:
    """Port 8910, Qdrant cluster, Ollama on a GPU, blue/green. (002_2f23092823f797e0.txt,
    "Namespace Configuration" (aegis-rag), "Environment Configuration" (API_PORT=8910,
    OLLAMA_MODEL=deepseek-r1:7b, RATE_LIMIT_REQUESTS_PER_MINUTE=100), "Qdrant Cluster
    Configuration", "Network Policies" (ingress-nginx -> 8910, qdrant 6333, ollama 11434).)"""
    ns = "aegis-rag"
    for color in ("blue", "green"):
        docs = kustomize("overlays/aegis-rag" + ("" if color == "blue" else "/green"))
        assert api_port(docs, f"ragd-api-{color}") == 8910
        live = get(docs, "Service", "ragd")
        assert (
            live["spec"]["ports"][0]["port"] == 8910 and live["spec"]["selector"]["track"] == color
        )
        data = config(docs, f"ragd-config-{color}")
        assert (
            data["OLLAMA_MODEL"] == "deepseek-r1:7b" and data["OLLAMA_URL"] == "http://ollama:11434"
        )
        assert data["LLM_PROVIDER"] == "ollama" and data["VECTOR_STORE_TYPE"] == "qdrant"
        ollama = get(docs, "StatefulSet", "ollama")
        assert gpu_limit(ollama) == "1"
        assert_traffic(
            docs, ns, api=f"Deployment/ragd-api-{color}", workers=[f"Deployment/ragd-worker-{color}"],
            port=8910, ingress_ns="ingress-nginx",
            stores={"StatefulSet/qdrant": [6333, 6334], "StatefulSet/ollama": [11434],
                    "StatefulSet/redis": [6379], "StatefulSet/postgres": [5432]},
        )  # fmt: skip


def test_guide_003_doc_rag(tmp_path: Path) -> None:
    """Port 8080 with metrics on 9090 (prometheus.io annotations), Postgres 16, Redis, Istio,
    NGINX ingress with rate limits and forced HTTPS, an AWS load balancer, blue/green and
    canary. (003_02fe4766b660fea4.txt, "Namespace Strategy" (doc-rag-prod, doc-rag-ingress,
    doc-rag-monitoring), "Blue-Green Deployment Configuration", "Istio Service Mesh", "NGINX
    Ingress Configuration", "Network Policies".)"""
    ns = "doc-rag-prod"
    for color in ("blue", "green"):
        docs = kustomize("overlays/doc-rag-prod" + ("" if color == "blue" else "/green"))
        assert api_port(docs, f"ragd-api-{color}") == 8080
        api = get(docs, "Deployment", f"ragd-api-{color}")
        assert api["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9090"
        assert config(docs, f"ragd-config-{color}")["METRICS_PORT"] == "9090"
        assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com")]
        ingress = next(d for d in docs if d["kind"] == "Ingress")["metadata"]["annotations"]
        assert ingress["nginx.ingress.kubernetes.io/limit-rps"] == "100"
        assert ingress["nginx.ingress.kubernetes.io/limit-connections"] == "10"
        assert ingress["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
        live = get(docs, "Service", "ragd")
        assert live["spec"]["type"] == "LoadBalancer"
        assert {"Gateway", "VirtualService", "DestinationRule"} <= {d["kind"] for d in docs}
        pg = get(docs, "StatefulSet", "postgres")
        assert pg["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-pg16")
        assert_traffic(
            docs, ns, api=f"Deployment/ragd-api-{color}", workers=[f"Deployment/ragd-worker-{color}"],
            port=8080, ingress_ns="doc-rag-ingress", monitoring_ns="doc-rag-monitoring",
            metrics_port=9090,
            stores={"StatefulSet/postgres": [5432], "StatefulSet/redis": [6379]},
        )  # fmt: skip
        net = Traffic(docs, ns)
        pod = endpoint(docs, ns, f"Deployment/ragd-api-{color}")
        assert not net.allowed(outside("ingress-nginx"), pod, 8080), "only doc-rag-ingress"
    canary = kustomize("overlays/doc-rag-prod/canary")
    assert api_port(canary, "ragd-api-canary") == 8080


def test_guide_004_enterprise_multi_tenant(tmp_path: Path) -> None:
    """genai-platform on pgvector (OpenSearch is not in ragd), Redis, Jaeger in the namespace,
    /metrics on 9090, HPA 3-10. (004_62bd2ba3a8682a89.txt, "Horizontal Pod Autoscaler",
    "Monitoring" (GenAI API /metrics port 9090; Jaeger UI via svc/jaeger in genai-platform).)"""
    ns = "genai-platform"
    docs = kustomize("overlays/genai-platform")
    assert api_port(docs, "ragd-api") == 8000
    data = config(docs, "ragd-config")
    assert data["VECTOR_STORE_TYPE"] == "pgvector" and data["METRICS_PORT"] == "9090"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert any(d["kind"] == "Service" and d["metadata"]["name"] == "jaeger" for d in docs)
    hpa = get(docs, "HorizontalPodAutoscaler", "ragd-api")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert_traffic(
        docs, ns, api="Deployment/ragd-api", workers=["Deployment/ragd-worker"], port=8000,
        ingress_ns="ingress-nginx", metrics_port=9090,
        stores={"StatefulSet/postgres": [5432], "StatefulSet/redis": [6379],
                "Deployment/otel-collector": [4317, 4318]},
    )  # fmt: skip


def test_traffic_check_is_not_vacuous() -> None:
    """Dropping the policy that admits the ingress controller, or the one that lets ragd reach
    Qdrant, is caught."""
    docs = kustomize("overlays/sentio-rag")
    api = endpoint(docs, "sentio-rag", "Deployment/ragd-api-blue")
    qdrant = endpoint(docs, "sentio-rag", "StatefulSet/qdrant")
    controller = outside("ingress-nginx")
    assert Traffic(docs, "sentio-rag").allowed(controller, api, 8000)
    without = [d for d in docs if d["metadata"]["name"] != "ragd-api-ingress"]
    assert not Traffic(without, "sentio-rag").allowed(controller, api, 8000)
    without = [d for d in docs if d["metadata"]["name"] != "ragd-egress-qdrant"]
    assert not Traffic(without, "sentio-rag").allowed(api, qdrant, 6333)


def test_yaml_of_new_files_passes_yamllint() -> None:
    check(
        tool("yamllint"), "--strict", "-c", str(ROOT / ".yamllint"), "deploy", str(ALL_COMPONENTS)
    )
