"""Checks on rendered manifests beyond their schemas: names, references, selectors, ports,
and what the NetworkPolicies let through.

`reference_errors` finds every reference that does not resolve (a Secret or ConfigMap that is
neither rendered nor documented as made beforehand, a Service selecting no pod, a policy or
budget selecting nothing, a scale target that does not exist, ...). `Traffic` evaluates the
NetworkPolicies as the API server's semantics define them, so a test can say "the ingress
controller reaches the API on its port, and nothing else reaches it".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "Job", "DaemonSet")


def name_of(doc: Doc) -> str:
    return str(doc["metadata"]["name"])


def pod_spec(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: Doc) -> dict[str, str]:
    return doc["spec"]["template"]["metadata"].get("labels", {})


def matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def simple_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service's selector (a plain map)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass
class Pod:
    """A pod template as the policies see it."""

    owner: str
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # name -> number, every container

    def has_port(self, port: int | str) -> bool:
        return port in self.ports or port in self.ports.values()


def pods(docs: list[Doc], namespace: str) -> list[Pod]:
    out = []
    for d in docs:
        if d["kind"] not in WORKLOADS:
            continue
        ports = {
            p.get("name", str(p["containerPort"])): p["containerPort"]
            for c in pod_spec(d)["containers"]
            for p in c.get("ports", [])
        }
        ns = d["metadata"].get("namespace", namespace)
        out.append(Pod(f"{d['kind']}/{name_of(d)}", ns, pod_labels(d), ports))
    return out


def _refs(doc: Doc) -> Iterator[tuple[str, str, bool]]:
    """(kind, name, optional) for every Secret/ConfigMap a workload's pods refer to."""
    spec = pod_spec(doc)
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for src in c.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in src:
                    yield kind, src[key]["name"], bool(src[key].get("optional"))
        for env in c.get("env", []):
            ref = env.get("valueFrom", {})
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in ref:
                    yield kind, ref[key]["name"], bool(ref[key].get("optional"))
    for vol in spec.get("volumes", []):
        if "configMap" in vol:
            yield "ConfigMap", vol["configMap"]["name"], bool(vol["configMap"].get("optional"))
        if "secret" in vol:
            yield "Secret", vol["secret"]["secretName"], bool(vol["secret"].get("optional"))
    for secret in spec.get("imagePullSecrets", []):
        yield "Secret", secret["name"], False


def reference_errors(
    docs: list[Doc], namespace: str, preexisting: Iterable[tuple[str, str]] = ()
) -> list[str]:
    """Every reference in `docs` that does not resolve. `preexisting` lists the (kind, name)
    objects documented as made before the install (Secrets from a secret store, TLS
    certificates cert-manager issues)."""
    errors: list[str] = []
    have = {(d["kind"], name_of(d)) for d in docs} | set(preexisting)
    names = [(d["kind"], name_of(d)) for d in docs]
    errors += [f"duplicate {k}/{n}" for k, n in set(names) if names.count((k, n)) > 1]
    all_pods = pods(docs, namespace)
    services = {name_of(d): d for d in docs if d["kind"] == "Service"}

    for d in docs:
        what = f"{d['kind']}/{name_of(d)}"
        ns = d["metadata"].get("namespace")
        if d["kind"] != "Namespace" and ns is not None and ns != namespace:
            errors.append(f"{what} is in namespace {ns}, not {namespace}")
        if d["kind"] == "Namespace" and name_of(d) != namespace:
            errors.append(f"{what}: the namespace is {namespace}")
        if d["kind"] in WORKLOADS:
            for kind, ref, optional in _refs(d):
                if not optional and (kind, ref) not in have:
                    errors.append(f"{what} refers to {kind}/{ref}, neither rendered nor documented")
            sa = pod_spec(d).get("serviceAccountName")
            if sa and ("ServiceAccount", sa) not in have:
                errors.append(f"{what} runs as ServiceAccount/{sa}, which does not exist")
            if d["kind"] != "Job" and not matches(d["spec"]["selector"], pod_labels(d)):
                errors.append(f"{what}: its selector does not match its own pods")
            if d["kind"] == "StatefulSet" and d["spec"].get("serviceName") not in services:
                errors.append(f"{what}: serviceName {d['spec'].get('serviceName')} is no Service")
        if d["kind"] == "Service":
            selected = [
                p for p in all_pods if simple_matches(d["spec"].get("selector", {}), p.labels)
            ]
            if not selected:
                errors.append(f"{what} selects no pod")
            for port in d["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                if selected and not any(p.has_port(target) for p in selected):
                    errors.append(f"{what} port {port.get('name')}: no selected pod has {target}")
        selector = None
        if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"]:
            selector = d["spec"]["podSelector"]
        if d["kind"] == "PodDisruptionBudget":
            selector = d["spec"]["selector"]
        if selector is not None and not any(matches(selector, p.labels) for p in all_pods):
            errors.append(f"{what}: its selector matches no pod")
        if d["kind"] == "ServiceMonitor":
            scraped = [
                s for s in services.values()
                if matches(d["spec"]["selector"], s["metadata"].get("labels", {}))
            ]  # fmt: skip
            if not scraped:
                errors.append(f"{what} selects no Service")
            for ep in d["spec"]["endpoints"]:
                for s in scraped:
                    if ep["port"] not in {port.get("name") for port in s["spec"]["ports"]}:
                        errors.append(
                            f"{what} scrapes port {ep['port']}, not on Service/{name_of(s)}"
                        )
        target = None
        if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
            target = d["spec"]["scaleTargetRef"]
        if d["kind"] == "VerticalPodAutoscaler":
            target = d["spec"]["targetRef"]
        if target and (target.get("kind", "Deployment"), target["name"]) not in have:
            errors.append(f"{what} targets {target.get('kind', 'Deployment')}/{target['name']}")
        if d["kind"] == "ScaledObject":
            for trigger in d["spec"]["triggers"]:
                query = trigger["metadata"].get("query", "")
                for found in re.findall(r'namespace="([^"]*)"', query):
                    if found != namespace:
                        errors.append(f"{what}: its query reads namespace {found}, not {namespace}")
        if d["kind"] == "Ingress":
            for rule in d["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    svc = services.get(backend["name"])
                    if svc is None:
                        if ("Service", backend["name"]) not in have:
                            errors.append(f"{what} routes to Service/{backend['name']}, absent")
                        continue
                    port = backend["port"].get("name", backend["port"].get("number"))
                    if port not in {p.get("name") for p in svc["spec"]["ports"]} | {
                        p["port"] for p in svc["spec"]["ports"]
                    }:
                        errors.append(f"{what} routes to port {port} of Service/{backend['name']}")
            notes = d["metadata"].get("annotations") or {}
            issued = any(k.startswith("cert-manager.io/") for k in notes)  # cert-manager makes it
            for tls in d["spec"].get("tls", []):
                if not issued and ("Secret", tls["secretName"]) not in have:
                    errors.append(f"{what}: TLS Secret/{tls['secretName']} not documented")
        if d["kind"] in ("VirtualService", "DestinationRule"):
            hosts = [d["spec"]["host"]] if d["kind"] == "DestinationRule" else [
                r["destination"]["host"] for h in d["spec"]["http"] for r in h["route"]
            ]  # fmt: skip
            for host in hosts:
                short = host.split(".")[0]
                if short not in services and ("Service", short) not in have:
                    errors.append(f"{what}: host {host} is no Service here")
                if "." in host and host.split(".")[1] != namespace:
                    errors.append(f"{what}: host {host} names another namespace")
    return errors


# ------------------------------------------------------------------ network policies ---
EXTERNAL = "external address"


@dataclass
class Endpoint:
    """Where traffic comes from or goes to: a pod (with its namespace and labels), or an
    address outside the cluster (`ip`)."""

    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    ip: str | None = None


def _peer_matches(peer: Doc, policy_ns: str, who: Endpoint) -> bool:
    if "ipBlock" in peer:
        return who.ip is not None  # pod IPs are private ranges: the policies here except them
    if who.ip is not None:
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is not None:
        ns_ok = matches(ns_sel, {"kubernetes.io/metadata.name": who.namespace}) or ns_sel == {}
    else:
        ns_ok = who.namespace == policy_ns
    pod_ok = pod_sel is None or pod_sel == {} or matches(pod_sel, who.labels)
    return ns_ok and pod_ok


def _port_matches(rule_ports: list[Doc] | None, port: int, dst: Endpoint) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        value = p.get("port")
        if value is None or value == port:
            return True
        if isinstance(value, str) and dst.ports.get(value) == port:
            return True
    return False


def _selects(policy: Doc, pod: Endpoint, namespace: str) -> bool:
    return (
        pod.ip is None
        and pod.namespace == policy["metadata"].get("namespace", namespace)
        and (
            policy["spec"]["podSelector"] == {}
            or matches(policy["spec"]["podSelector"], pod.labels)
        )
    )


@dataclass
class Traffic:
    """The NetworkPolicies of one namespace, evaluated for a connection."""

    docs: list[Doc]
    namespace: str

    @property
    def policies(self) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == "NetworkPolicy"]

    def _direction(
        self, pod: Endpoint, peer: Endpoint, port: int, dst: Endpoint, kind: str
    ) -> bool:
        key, peers = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        applying = [
            p for p in self.policies
            if kind in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p, pod, self.namespace)
        ]  # fmt: skip
        if not applying:
            return True  # no policy isolates the pod in this direction
        for policy in applying:
            ns = policy["metadata"].get("namespace", self.namespace)
            for rule in policy["spec"].get(key) or []:
                peer_ok = not rule.get(peers) or any(
                    _peer_matches(x, ns, peer) for x in rule[peers]
                )
                if peer_ok and _port_matches(rule.get("ports"), port, dst):
                    return True
        return False

    def allowed(self, src: Endpoint, dst: Endpoint, port: int) -> bool:
        """Whether src may open a TCP connection to dst:port (egress of src, ingress of dst,
        each only where a policy in this namespace selects the pod)."""
        egress_ok = src.ip is not None or self._direction(src, dst, port, dst, "Egress")
        ingress_ok = dst.ip is not None or self._direction(dst, src, port, dst, "Ingress")
        return egress_ok and ingress_ok


def endpoint(docs: list[Doc], namespace: str, owner: str) -> Endpoint:
    """The pods of one workload ("Deployment/ragd-api-blue")."""
    for p in pods(docs, namespace):
        if p.owner == owner:
            return Endpoint(p.namespace, p.labels, p.ports)
    raise AssertionError(f"no workload {owner} rendered")


def outside(namespace: str, labels: dict[str, str] | None = None) -> Endpoint:
    """A pod in another namespace (the ingress controller, Prometheus, ...)."""
    return Endpoint(namespace, labels or {"app": "any"})
