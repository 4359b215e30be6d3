"""``http_requests_total`` and ``http_request_duration_seconds``, served on /metrics.

The guides' dashboards query these names (003_02fe4766b660fea4.txt, "Grafana Dashboard
Provisioning": ``rate(http_requests_total[5m])`` with legend ``{{method}} {{status}}``;
002_2f23092823f797e0.txt, "Grafana Dashboard Configuration":
``histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))`` and
``rate(http_requests_total{status=~"5.."}[5m])``). They count the same requests as
``rag_requests_total``, split by method.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import make_client


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_http_metrics_count_every_request_by_method_and_status(tmp_path) -> None:
    with make_client(tmp_path / "d") as client:
        before = client.get("/metrics").text
        client.post("/api/v1/search", json={"query": "tides"})
        client.post("/api/v1/search", json={"query": ""})  # 422
        client.get("/api/v1/documents")
        client.delete("/api/v1/documents/nope")  # 404
        after = client.get("/metrics").text

    def delta(name: str, keys: tuple[str, ...]) -> Counter[tuple[str, ...]]:
        counts: Counter[tuple[str, ...]] = Counter()
        for text, sign in ((after, 1), (before, -1)):
            for labels, value in samples(text, name):
                if labels.get("endpoint") != "/metrics":
                    counts[tuple(labels[k] for k in keys)] += sign * value
        return +counts

    http = delta("http_requests_total", ("method", "endpoint", "status"))
    assert http[("POST", "/api/v1/search", "200")] == 1
    assert http[("POST", "/api/v1/search", "422")] == 1
    assert http[("GET", "/api/v1/documents", "200")] == 1
    assert http[("DELETE", "/api/v1/documents/{document_id}", "404")] == 1
    # The same requests as ragd's own counter, only split by method.
    by_route: Counter[tuple[str, ...]] = Counter()
    for (_, endpoint, status), n in http.items():
        by_route[(endpoint, status)] += n
    assert by_route == delta("rag_requests_total", ("endpoint", "status"))
    buckets = delta("http_request_duration_seconds_count", ("method", "endpoint"))
    assert buckets[("POST", "/api/v1/search")] == 2
    assert any(
        labels.get("le") == "+Inf" and labels["method"] == "GET"
        for labels, _ in samples(after, "http_request_duration_seconds_bucket")
    )
