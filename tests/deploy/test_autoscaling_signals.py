"""The application signals the autoscalers read are ones ragd exports: every metric a KEDA
ScaledObject queries (kustomize's components/keda via overlays/keda, the chart's
keda.enabled) is in ragd's registry, and the API scales on requests in flight too."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client import REGISTRY

import ragd.observability.metrics  # noqa: F401 (registers ragd's metrics)
from tests.deploy.test_deploy_guides import ALL_COMPONENTS, helm, kustomize

pytestmark = pytest.mark.deploy

IN_FLIGHT = "ragd_http_requests_in_flight"


def exported() -> set[str]:
    """Every family's name and the sample names it has (a labelled family with no child
    yet has no samples: ``_bucket``/``_count``/``_sum``/``_total`` come from its type)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
    return names


def scaled_objects(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}


RENDERINGS = {
    "overlays/keda": (lambda: kustomize("overlays/keda"), "ragd-keda"),
    "helm keda.enabled": (
        lambda: helm("ragd", "ragd-prod", "-f", str(ALL_COMPONENTS)),
        "ragd-prod",
    ),
}


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_every_queried_metric_is_exported_and_the_api_scales_on_in_flight(rendering: str) -> None:
    render, namespace = RENDERINGS[rendering]
    objects = scaled_objects(render())
    names = exported()
    for name, obj in objects.items():
        for trigger in obj["spec"]["triggers"]:
            query = trigger["metadata"].get("query", "")
            for metric in re.findall(r"\b((?:ragd|rag|genai)_[a-z_]+)\{", query):
                assert metric in names, f"{name} queries {metric}, which ragd does not export"
    api = objects["ragd-api"]
    in_flight = [t for t in api["spec"]["triggers"] if IN_FLIGHT in t["metadata"].get("query", "")]
    assert len(in_flight) == 1, api["spec"]["triggers"]
    trigger = in_flight[0]
    assert trigger["metricType"] == "AverageValue"  # per replica
    assert f'namespace="{namespace}"' in trigger["metadata"]["query"]
    assert float(trigger["metadata"]["threshold"]) > 0


def test_the_chart_drops_the_in_flight_trigger_at_zero() -> None:
    docs = helm("ragd", "ragd", "-f", str(ALL_COMPONENTS), "--set", "keda.api.inFlightPerReplica=0")
    api = scaled_objects(docs)["ragd-api"]
    assert not [t for t in api["spec"]["triggers"] if IN_FLIGHT in str(t)]
