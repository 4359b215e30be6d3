"""scripts/deploy.sh's decisions, without a cluster: blue/green switch and canary steps with
automatic rollback when health checks or error-rate queries fail.

kubectl is a stub that records every call (and builds manifests with the real kustomize);
the Services' health endpoints and Prometheus's query API are a small local HTTP server
whose answers each test sets. What is checked is the sequence of kubectl changes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.deploy.tools import run, tool

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

IMAGE = "registry.example.com/ragd:9.9.9"

FAKE_KUBECTL = r"""#!/usr/bin/env bash
# Records each call; builds with the real kustomize; answers the live Service's track.
printf '%s\n' "$*" >> "$FAKE_DIR/calls.log"
if [ "$1" = kustomize ]; then exec "$REAL_KUBECTL" "$@"; fi
args=" $* "
if [[ "$args" == *" apply "* ]]; then
  prev=""
  for a in "$@"; do
    if [ "$prev" = -f ]; then cp "$a" "$FAKE_DIR/applied-$(date +%s%N).yaml"; fi
    prev=$a
  done
fi
if [[ "$args" == *" get service ragd "* ]]; then printf '%s' "${FAKE_LIVE_TRACK:-}"; fi
exit 0
"""


class World:
    """What the fake Services and Prometheus answer."""

    def __init__(self) -> None:
        self.unready: set[str] = set()  # services whose /ready answers 503
        self.error_ratio: dict[str, float] = {}  # track -> 5xx ratio
        self.p95: dict[str, float] = {}  # track -> seconds
        self.prometheus_down = False


@pytest.fixture
def world() -> Iterator[tuple[World, str]]:
    state = World()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if parts[0] == "prom":
                if state.prometheus_down:
                    return self._send(500, "{}")
                query = parse_qs(url.query)["query"][0]
                track = re.search(r'track="([^"]+)"', query)
                name = track.group(1) if track else ""
                table = state.p95 if "histogram_quantile" in query else state.error_ratio
                value = table.get(name, 0.0)
                result = [{"metric": {}, "value": [0, str(value)]}]
                return self._send(
                    200, json.dumps({"status": "success", "data": {"result": result}})
                )
            service, endpoint = parts[0], parts[-1]
            if endpoint == "health":
                return self._send(200, '{"status": "ok"}')
            if endpoint == "ready":
                if service in state.unready:
                    return self._send(503, '{"status": "not_ready"}')
                return self._send(200, '{"status": "ready"}')
            if endpoint == "metrics":
                return self._send(200, "# TYPE rag_requests_total counter\n", "text/plain")
            return self._send(404, "{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def deploy(tmp_path: Path, base: str, *args: str, live: str = "") -> tuple[int, list[str], str]:
    fake_dir = tmp_path / "fake"
    fake_dir.mkdir(parents=True, exist_ok=True)
    kubectl = fake_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "KUBECTL": str(kubectl),
        "REAL_KUBECTL": tool("kubectl"),
        "FAKE_DIR": str(fake_dir),
        "FAKE_LIVE_TRACK": live,
        "RAGD_SERVICE_URL_TEMPLATE": f"{base}/{{service}}",
        "PROMETHEUS_URL": f"{base}/prom",
        "RAGD_HEALTH_RETRIES": "1",
        "RAGD_HEALTH_INTERVAL": "0",
    }
    proc = run("bash", "scripts/deploy.sh", *args, "--image", IMAGE, "--skip-checks",
               "--step-seconds", "0", "--checks", "2", env=env, timeout=120)  # fmt: skip
    log = fake_dir / "calls.log"
    calls = log.read_text().splitlines() if log.exists() else []
    # Drop the global flags: "--namespace ragd apply ..." -> "apply ..."
    calls = [re.sub(r"^--namespace \S+ ", "", c) for c in calls if not c.startswith("kustomize")]
    return proc.returncode, calls, proc.stderr


def weights(calls: list[str]) -> list[int]:
    return [int(m.group(1)) for c in calls if (m := re.search(r"canary-weight=(\d+)", c))]


def test_canary_goes_through_every_step_then_promotes(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "canary")
    assert rc == 0, err
    assert weights(calls) == [5, 25, 50, 100, 0]
    assert any("apply -f" in c and "ragd.dev/role=canary-router" in c for c in calls)
    promote = calls.index("rollout status deployment/ragd-api --timeout=600s")
    assert promote > calls.index(next(c for c in calls if "canary-weight=100" in c))
    assert calls[-1].startswith("delete -f") and "-l track=canary" in calls[-1]
    applied = "".join(p.read_text() for p in (tmp_path / "fake").glob("applied-*.yaml"))
    assert f"image: {IMAGE}" in applied and "image: registry.example.com/ragd:0.1.0" not in applied


def test_canary_error_ratio_breach_rolls_back(world: tuple[World, str], tmp_path: Path) -> None:
    state, base = world
    state.error_ratio["canary"] = 0.05
    rc, calls, err = deploy(tmp_path, base, "canary")
    assert rc == 1
    assert weights(calls) == [5, 0], "no step after the failed one; weight back to 0"
    assert any(c.startswith("delete -f") and "-l track=canary" in c for c in calls)
    assert "rollout status deployment/ragd-api --timeout=600s" not in calls  # no promotion
    assert "5xx ratio 0.05" in err and "failed at 5%" in err


def test_canary_unhealthy_never_takes_traffic(world: tuple[World, str], tmp_path: Path) -> None:
    state, base = world
    state.unready.add("ragd-api-canary")
    rc, calls, _err = deploy(tmp_path, base, "canary")
    assert rc == 1
    assert not any("role=canary-router" in c and c.startswith("apply") for c in calls)
    assert weights(calls) == [0]


def test_canary_istio_latency_breach_puts_all_weight_back_on_stable(
    world: tuple[World, str], tmp_path: Path
) -> None:
    state, base = world
    state.p95["canary"] = 3.1
    rc, calls, _err = deploy(tmp_path, base, "canary", "--mesh", "istio", "--steps", "5 25")
    assert rc == 1
    patches = [c for c in calls if c.startswith("patch virtualservice ragd")]
    split = [tuple(int(v) for v in re.findall(r'"value":(\d+)', p)) for p in patches]
    assert split == [(95, 5), (100, 0)]


def test_canary_rolls_back_when_prometheus_cannot_be_asked(
    world: tuple[World, str], tmp_path: Path
) -> None:
    state, base = world
    state.prometheus_down = True
    rc, calls, err = deploy(tmp_path, base, "canary")
    assert rc == 1 and weights(calls) == [5, 0]
    assert "query for track canary failed" in err


def test_blue_green_switches_after_the_new_track_is_healthy(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "bluegreen", "green", live="blue")
    assert rc == 0, err
    router = calls.index(next(c for c in calls if c.endswith("-l ragd.dev/role=router")))
    assert router > calls.index("rollout status deployment/ragd-api-green --timeout=600s")
    assert not any(c.startswith("patch service ragd") for c in calls)


def test_blue_green_unhealthy_track_is_never_switched_to(
    world: tuple[World, str], tmp_path: Path
) -> None:
    state, base = world
    state.unready.add("ragd-api-green")
    rc, calls, err = deploy(tmp_path, base, "bluegreen", "green", live="blue")
    assert rc == 1
    assert not any(c.endswith("-l ragd.dev/role=router") for c in calls)
    assert "still points at blue" in err


def test_blue_green_switches_back_when_the_error_ratio_climbs(
    world: tuple[World, str], tmp_path: Path
) -> None:
    state, base = world
    state.error_ratio["green"] = 0.2
    rc, calls, err = deploy(tmp_path, base, "bluegreen", "green", live="blue")
    assert rc == 1
    switch = calls.index(next(c for c in calls if c.endswith("-l ragd.dev/role=router")))
    back = [c for c in calls[switch:] if c.startswith("patch service ragd")]
    assert back and '"track":"blue"' in back[0]
    assert "back on blue" in err


def test_blue_green_refuses_to_deploy_over_the_live_track(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "bluegreen", "blue", live="blue")
    assert rc == 1 and "is live already" in err
    assert not any(c.startswith("apply") for c in calls)


def test_rolling_deploy_undoes_itself_when_unhealthy(
    world: tuple[World, str], tmp_path: Path
) -> None:
    state, base = world
    state.unready.add("ragd")
    rc, calls, _err = deploy(tmp_path, base, "rolling", "staging")
    assert rc == 1
    assert "rollout undo deployment/ragd-api" in calls
    assert "rollout undo deployment/ragd-worker" in calls
    migrate = calls.index("wait --for=condition=complete job/ragd-migrate --timeout=600s")
    workloads = next(i for i, c in enumerate(calls) if c.startswith("apply -f") and " -l " not in c)
    assert migrate < workloads, "migrations finish before the workloads are applied"


# The guides' overlays (deploy/k8s/overlays/<guide>): namespaces as the guides name them.
# Guide 000 (000_25c16473dff3e6c4.txt, "Strategy 2: Blue-Green Deployment"):
#   kubectl logs -f deployment/sentio-rag-green -n sentio-rag
# Guide 003 (003_02fe4766b660fea4.txt, "Phase 2: Green Environment Deployment"):
#   kubectl rollout status deployment/api-deployment-green -n doc-rag-prod
# Guide 002 (Aegis) runs in namespace aegis-rag (deploy/k8s/overlays/aegis-rag) and has a
# blue/green script but no canary.


def namespaces(tmp_path: Path) -> set[str]:
    """The namespaces every kubectl call (but kustomize) was made in."""
    lines = (tmp_path / "fake" / "calls.log").read_text().splitlines()
    return {m.group(1) for c in lines if (m := re.match(r"--namespace (\S+) ", c))}


def applied(tmp_path: Path) -> list[dict[str, Any]]:
    import yaml

    docs: list[dict[str, Any]] = []
    for path in sorted((tmp_path / "fake").glob("applied-*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_blue_green_on_a_guides_overlay_in_its_namespace(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(
        tmp_path, base, "bluegreen", "green", "--overlay", "sentio-rag", live="blue"
    )
    assert rc == 0, err
    assert namespaces(tmp_path) == {"sentio-rag"}
    assert "rollout status deployment/ragd-api-green --timeout=600s" in calls
    docs = applied(tmp_path)
    assert {d["metadata"].get("namespace") for d in docs} <= {"sentio-rag", None}
    green = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "ragd-api-green"
    ]
    assert green and green[0]["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    # The guide's stack came with it: Sentinel-kept Redis, Qdrant.
    assert any(d["kind"] == "StatefulSet" and d["metadata"]["name"] == "redis" for d in docs)
    router = calls.index(next(c for c in calls if c.endswith("-l ragd.dev/role=router")))
    assert router > calls.index("rollout status deployment/ragd-api-green --timeout=600s")


def test_blue_is_the_guides_root_overlay(world: tuple[World, str], tmp_path: Path) -> None:
    _state, base = world
    rc, calls, err = deploy(
        tmp_path, base, "bluegreen", "blue", "--overlay", "doc-rag-prod", live="green"
    )
    assert rc == 0, err
    assert namespaces(tmp_path) == {"doc-rag-prod"}
    assert "rollout status deployment/ragd-api-blue --timeout=600s" in calls
    service = next(
        d for d in applied(tmp_path) if d["kind"] == "Service" and d["metadata"]["name"] == "ragd"
    )
    assert service["spec"]["selector"]["track"] == "blue"


def test_canary_on_a_guides_overlay_promotes_its_live_track(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "canary", "--overlay", "sentio-rag", live="blue")
    assert rc == 0, err
    assert namespaces(tmp_path) == {"sentio-rag"}
    assert weights(calls) == [5, 25, 50, 100, 0]
    promote = calls.index("rollout status deployment/ragd-api-blue --timeout=600s")
    assert promote > calls.index(next(c for c in calls if "canary-weight=100" in c))
    assert "rollout status deployment/ragd-api --timeout=600s" not in calls  # no plain track
    blue = [
        d
        for d in applied(tmp_path)
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "ragd-api-blue"
    ]
    assert blue and blue[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_canary_promotion_refuses_a_live_track_it_cannot_name(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "canary", "--overlay", "doc-rag-prod", live="")
    assert rc == 1 and "selects track ''" in err
    assert not any("rollout status deployment/ragd-api-" in c and "canary" not in c for c in calls)


def test_guides_overlays_without_the_asked_track_are_refused(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, _calls, err = deploy(tmp_path, base, "canary", "--overlay", "aegis-rag")
    assert rc == 1 and "overlay aegis-rag has no canary" in err
    rc, _calls, err = deploy(tmp_path, base, "canary", "--overlay", "sentio-rag", "--mesh", "istio")
    assert rc == 1 and "no canary for --mesh istio" in err
    rc, _calls, err = deploy(tmp_path, base, "bluegreen", "green", "--overlay", "nowhere")
    assert rc == 1 and "no overlay nowhere" in err


def test_rolling_takes_any_plain_overlay_and_refuses_tracks(
    world: tuple[World, str], tmp_path: Path
) -> None:
    _state, base = world
    rc, calls, err = deploy(tmp_path, base, "rolling", "genai-platform")
    assert rc == 0, err
    assert namespaces(tmp_path) == {"genai-platform"}
    assert "rollout status deployment/ragd-api --timeout=600s" in calls
    rc, _calls, err = deploy(tmp_path / "2", base, "rolling", "sentio-rag")
    assert rc == 1 and "use bluegreen or canary" in err


def test_namespace_flag_wins_over_the_overlays(world: tuple[World, str], tmp_path: Path) -> None:
    _state, base = world
    rc, _calls, err = deploy(
        tmp_path, base, "bluegreen", "green", "--overlay", "aegis-rag", "--namespace", "aegis-2",
        live="blue",
    )  # fmt: skip
    assert rc == 0, err
    assert namespaces(tmp_path) == {"aegis-2"}
    assert {d["metadata"].get("namespace") for d in applied(tmp_path)} <= {"aegis-2", None}
