"""Every hostile input of issue 17 against one live ``ragd serve`` (auth on, two tenants).

The other tests under ``tests/security`` each check one finding, mostly in a child process
or an in-process app. This one feeds a single real server all of them, in sequence and,
where the finding is about concurrency, at once, and watches it throughout: every ~100 ms
the server's RSS (its own process, and the parse sandbox's children separately) and the
latency of ``/health``.

- a failed-authentication flood (40 strangers who know a key's prefix, 8 s, loopback),
  with a legitimate client searching meanwhile: its p95 latency and 503 share;
- a 45 MB plain-text file of one paragraph (tenant A), indexed to the end;
- while it is processed: two DOCX decompression bombs and a PDF Flate bomb (tenant B),
  nested (500 and 100k deep) and NaN metadata on both upload routes, an over-long title,
  1 MB of request headers;
- tenant B's small document uploaded while A's big one is being embedded: its wait;
- at the end, a legitimate query of each tenant.

The server embeds with the hashing embedder, not MiniLM: the memory question is about
parsing, chunking and storing, and MiniLM would need tens of minutes of model time for
the 45 MB document's ~42,000 chunks on a CI machine. The real model adds its own ~250 MB,
constant, to each process that loads it (the API, and the worker, which runs as a child
process of ``ragd serve``): the server and its process tree must stay under the issue's
1.5 GB less 512 MB for them. Before the write path was batched, the run peaked at 1,168 MB.

Measured on the shared 2-core VM at load average 22-26, three consecutive runs (each
~4 min): /health max 0.51, 0.74, 0.59 s (p95 ~0.05 s), then 0.77 s; one earlier run at
load 16 had one probe of 1.19 s, while the big document was committed (in a later run,
py-spy samples of the API process during its slowest probes showed only plain request
handling: the kernel's scheduling at that load, not work of the API); the API process's peak RSS
~380 MB, the tree (worker, parse children) ~710-730 MB; B's tiny document uploaded right
behind the 45 MB one indexed in 0.3-1.9 s while that one was still being parsed (2.7 s
with a profiler sampling the server).
Before: /health up to 1.0-1.9 s while the worker (then a thread of the API process, whose
GIL it held) chunked and committed the big document; the tiny document 11 s idle, 49 s
loaded.

Not bounded here: the big document's commit is one SQLite write transaction (seconds for
42,000 chunks); requests that need the write lock wait for it on the thread pool, and
when the flood overlapped it a legitimate search took 12 s. Hence the flood first.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from ragd.services.container import build_services, migrate_database
from tests.conftest import make_settings
from tests.live import Server
from tests.security.parse_in_child import is_sentence
from tests.security.test_archives_pdf import _flate_bomb, _pdf
from tests.security.test_auth_flood import FLOOD
from tests.security.zips import MiB, docx_with, paragraph_bomb, text_node_bomb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc"),
]

MB = 1_000_000
BIG_BYTES = 45 * MB
PEAK_RSS_MB = 1536
"""The issue's bound for a server that received every hostile input."""
MODEL_ALLOWANCE_MB = 512
"""Left for the real model (MiniLM adds ~250 MB) that this server does without."""
HEALTH_S = 1.0
"""The issue's bound on every /health answer."""
EARLY_WAIT_S = 5.0
"""How long B's tiny document may wait when uploaded right behind A's 45 MB one, while
that one is parsed and chunked (large documents have a lane of their own). Measured on 2
cores at load 16-20: 1.9-2.7 s; before the lane 11 s idle, 49 s loaded."""
SMALL_WAIT_S = 15.0
"""How long B's small document may wait behind A's big one being embedded (loaded CI)."""
STRANGERS = 40
FLOOD_SECONDS = 8.0
DOCS = "/api/v1/documents"
PROBLEM = "application/problem+json"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _paragraph(size: int) -> bytes:
    """One paragraph: sentences of common words, never a line break."""
    words = (
        "the of and to in a is that for it as was with be by on not this are or from at "
        "which mitochondrial dysfunction neurodegeneration cohort"
    ).split()
    rng = random.Random(45)
    sentences = [
        " ".join(rng.choice(words) for _ in range(rng.randint(5, 25))).capitalize() + "."
        for _ in range(400)
    ]
    block = (" ".join(sentences) + " ").encode()
    return (block * (size // len(block) + 1))[:size]


@dataclass
class Watch:
    """Samples the server every ~100 ms: its RSS, its children's, and /health's latency."""

    base: str
    pid: int
    rss_mb: list[float] = field(default_factory=list)
    children_mb: list[float] = field(default_factory=list)
    health_s: list[float] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)
    slow: list[tuple[float, str]] = field(default_factory=list)
    phase: str = "start"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        with httpx.Client(base_url=self.base, timeout=10) as probe:
            while not self._stop.is_set():
                try:
                    self.rss_mb.append(proc.memory_info().rss / 2**20)
                    kids = 0
                    for child in proc.children(recursive=True):
                        with suppress(psutil.Error):  # it may end between listing and reading
                            kids += child.memory_info().rss
                    self.children_mb.append(kids / 2**20)
                except psutil.Error as exc:
                    self.health_failures.append(f"server process: {exc!r}")
                    return
                started = time.perf_counter()
                status: int | str
                try:
                    status = probe.get("/health").status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                took = time.perf_counter() - started
                self.health_s.append(took)
                if status != 200:
                    self.health_failures.append(f"{status} during {self.phase}")
                self.slow.append((took, f"{self.phase} (at {time.time():.1f})"))
                self._stop.wait(max(0.0, 0.1 - took))


@dataclass
class Answers:
    """Each hostile request, the status it should get and the one it got."""

    rows: list[tuple[str, int, int | str]] = field(default_factory=list)

    def check(self, name: str, expected: int, send: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            r = send()
            got: int | str = r.status_code
        except httpx.HTTPError as exc:
            self.rows.append((name, expected, type(exc).__name__))
            raise AssertionError(f"{name}: {exc!r} instead of {expected}") from exc
        self.rows.append((name, expected, got))
        if r.status_code >= 400:
            assert r.headers["content-type"] == PROBLEM, (name, r.headers)
        return r

    @property
    def wrong(self) -> list[tuple[str, int, int | str]]:
        return [row for row in self.rows if row[1] != row[2]]


def _tenants(data: Path) -> dict[str, str]:
    settings = make_settings(data, auth="required")
    migrate_database(settings)
    services = build_services(settings)
    try:
        return {t: services.account_admin.create_tenant(t).key.plaintext for t in ("a", "b")}
    finally:
        services.close()


def _status(http: httpx.Client, doc: str) -> dict[str, Any]:
    r = http.get(f"{DOCS}/{doc}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _wait(http: httpx.Client, doc: str, wanted: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = _status(http, doc)
        if got["status"] in wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _metadata_requests(http: httpx.Client, answers: Answers) -> None:
    """Nested and non-finite metadata and an over-long title, on both upload routes."""
    cases = {
        "nested 500": _nested(500),
        "nested 100k": _nested(100_000),
        "NaN": '{"score": NaN}',
        "Infinity": '{"score": Infinity}',
    }
    text = "Honeybees dance to show where the food is."
    for name, metadata in cases.items():
        answers.check(
            f"multipart metadata {name}",
            422,
            lambda m=metadata: http.post(  # type: ignore[misc]
                DOCS,
                files={"file": ("bees.txt", text.encode(), "text/plain")},
                data={"metadata": m},
            ),
        )
        body = f'{{"text": {json.dumps(text)}, "metadata": {metadata}}}'
        answers.check(
            f"json metadata {name}",
            422,
            lambda b=body: http.post(  # type: ignore[misc]
                DOCS, content=b, headers={"content-type": "application/json"}
            ),
        )
    answers.check(
        "multipart title 100k",
        422,
        lambda: http.post(
            DOCS,
            files={"file": ("bees.txt", text.encode(), "text/plain")},
            data={"title": "T" * 100_000},
        ),
    )


def _flood(base: str, prefix: str, legit: httpx.Client) -> dict[str, Any]:
    """Strangers with the key's prefix and random secrets; a legitimate client searches."""
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, base, prefix, str(FLOOD_SECONDS), str(STRANGERS)],
        stdout=subprocess.PIPE,
    )
    time.sleep(0.5)  # let the strangers connect
    latencies: list[float] = []
    statuses: list[int | str] = []
    deadline = time.monotonic() + FLOOD_SECONDS - 1.0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            statuses.append(
                legit.post("/api/v1/search", json={"query": "where is the food"}).status_code
            )
        except httpx.HTTPError as exc:
            statuses.append(type(exc).__name__)
        latencies.append(time.perf_counter() - started)
    out, _ = flood.communicate(timeout=FLOOD_SECONDS + 90)
    latencies.sort()
    return {
        "strangers": json.loads(out),
        "legit_requests": len(statuses),
        "legit_statuses": {str(s): statuses.count(s) for s in set(statuses)},
        "legit_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "legit_503_share": round(statuses.count(503) / len(statuses), 3),
    }


def test_one_server_survives_every_hostile_input(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    started = time.monotonic()
    data = tmp_path / "data"
    keys = _tenants(data)
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "EMBEDDING_MODEL": "hashing-64",
        "RAGD_AUTH": "required",
        "RAGD_WORKER_POLL_SECONDS": "0.1",
        "LOG_LEVEL": "warning",
    }
    server = Server(env, tmp_path / "serve.log")
    watch = Watch(server.base, server.proc.pid)
    answers = Answers()
    a = httpx.Client(base_url=server.base, headers={"X-API-Key": keys["a"]}, timeout=120)
    b = httpx.Client(base_url=server.base, headers={"X-API-Key": keys["b"]}, timeout=120)
    figures: dict[str, Any] = {}
    try:
        assert a.post(DOCS, json={"text": "Owls hunt at night by sound."}).status_code == 202
        assert b.post(DOCS, json={"text": "Honeybees dance to show food."}).status_code == 202
        watch.start()

        # 1. The failed-authentication flood, legitimate searches measured meanwhile. It
        # runs before the big document: overlapping that document's commit (one write
        # transaction of seconds for 42,000 chunks) it stalls every request (see
        # the module docstring), which no bound here could absorb without hiding it.
        watch.phase = "auth flood"
        figures["flood"] = _flood(server.base, keys["a"].split("_")[1], a)

        # 2. The 45 MB paragraph, under the 50 MiB upload limit.
        watch.phase = "45 MB upload"
        r = answers.check(
            "45 MB paragraph",
            202,
            lambda: a.post(DOCS, files={"file": ("big.txt", _paragraph(BIG_BYTES), "text/plain")}),
        )
        big_id = r.json()["id"]
        # A tiny document of B's right behind it, while A's is parsed and chunked: large
        # documents are prepared in a lane of their own (services/prepare_lane.py), so it
        # does not wait for A's (it did: 11 s idle, 49 s on a loaded machine).
        early = b.post(DOCS, json={"text": "Early note: the numbat eats termites."})
        assert early.status_code == 202, early.text
        early_id = early.json()["id"]
        t0 = time.monotonic()
        early_doc = _wait(b, early_id, {"indexed", "failed"}, EARLY_WAIT_S * 6)
        figures["early_wait_s"] = round(time.monotonic() - t0, 2)
        figures["big_status_when_early_done"] = _status(a, big_id)["status"]

        # 3. While it is parsed and chunked: bombs, metadata, headers.
        watch.phase = "bombs"
        bombs = {
            "docx paragraph bomb (1 GiB)": (
                "para.docx",
                docx_with(paragraph_bomb(1024 * MiB)),
                DOCX,
            ),
            "docx text-node bomb (300 MiB)": (
                "node.docx",
                docx_with(text_node_bomb(300 * MiB)),
                DOCX,
            ),
            "pdf flate bomb (1 GiB)": (
                "bomb.pdf",
                _pdf(_flate_bomb(1024 * MiB)),
                "application/pdf",
            ),
        }
        bomb_ids = {}
        for name, file in bombs.items():
            bomb_ids[name] = answers.check(
                name,
                202,
                lambda f=file: b.post(DOCS, files={"file": f}),  # type: ignore[misc]
            ).json()["id"]
        watch.phase = "metadata"
        _metadata_requests(b, answers)
        watch.phase = "headers"
        answers.check(
            "1 MB of headers", 431, lambda: b.get("/health", headers={"X-Big": "a" * MiB})
        )

        # 4. Tenant B's small document while A's big one is being embedded.
        watch.phase = "waiting for A's document to be embedded"
        state = _wait(a, big_id, {"embedding", "indexed", "failed"}, 150)
        figures["big_ready_to_embed_s"] = round(time.monotonic() - started, 1)
        assert state["status"] == "embedding", state
        watch.phase = "fairness"
        small = b.post(DOCS, json={"text": "Tiny note: the quokka is a small wallaby."})
        assert small.status_code == 202, small.text
        t0 = time.monotonic()
        small_doc = _wait(b, small.json()["id"], {"indexed", "failed"}, SMALL_WAIT_S * 4)
        figures["small_wait_s"] = round(time.monotonic() - t0, 2)
        figures["big_status_meanwhile"] = _status(a, big_id)["status"]

        # 5. Everything settles; both tenants still get answers.
        watch.phase = "waiting for A's document to be indexed"
        big_doc = _wait(a, big_id, {"indexed", "failed"}, 180)
        figures["big_done_s"] = round(time.monotonic() - started, 1)
        bomb_docs = {name: _wait(b, i, {"indexed", "failed"}, 60) for name, i in bomb_ids.items()}
        watch.phase = "final queries"
        finals = [
            c.post("/api/v1/query", json={"query": "what do owls and bees do"}) for c in (a, b)
        ]
        hits = a.post("/api/v1/search", json={"query": "mitochondrial cohort", "top_k": 3})
    finally:
        watch.stop()
        peak_server = _vm_hwm_mb(server.proc.pid)
        a.close()
        b.close()
        server.stop()

    figures.update(
        {
            "wall_s": round(time.monotonic() - started, 1),
            "early_wait_server_s": _waited(early_doc),
            "big_status": big_doc["status"],
            "big_chunks": big_doc["chunks"],
            "server_peak_rss_mb (VmHWM)": round(peak_server),
            "server_rss_mb_sampled_max": round(max(watch.rss_mb)),
            "server_rss_mb_median": round(statistics.median(watch.rss_mb)),
            "sandbox_children_rss_mb_max": round(max(watch.children_mb)),
            "tree_rss_mb_max": round(
                max(s + c for s, c in zip(watch.rss_mb, watch.children_mb, strict=True))
            ),
            "health_samples": len(watch.health_s),
            "health_max_s": round(max(watch.health_s), 3),
            "health_p95_s": round(sorted(watch.health_s)[int(0.95 * (len(watch.health_s) - 1))], 3),
            "health_slowest": [f"{t:.3f}s during {p}" for t, p in sorted(watch.slow)[-5:]],
            "hostile_answers": answers.rows,
            "bombs": {n: (d["status"], d["error"]) for n, d in bomb_docs.items()},
        }
    )
    record_property("hostile_server", json.dumps(figures))
    (tmp_path / "figures.json").write_text(json.dumps(figures, indent=1))

    assert not answers.wrong, figures
    assert not watch.health_failures, (watch.health_failures, figures)
    assert figures["health_max_s"] <= HEALTH_S, figures
    assert peak_server < PEAK_RSS_MB - MODEL_ALLOWANCE_MB, figures
    assert figures["tree_rss_mb_max"] < PEAK_RSS_MB - MODEL_ALLOWANCE_MB, figures
    assert big_doc["status"] == "indexed", big_doc
    assert big_doc["chunks"] > BIG_BYTES / 2000, big_doc
    for name, doc in bomb_docs.items():
        assert doc["status"] == "failed" and is_sentence(doc["error"]), (name, doc)
    assert small_doc["status"] == "indexed", small_doc
    assert early_doc["status"] == "indexed", early_doc
    assert figures["big_status_when_early_done"] in ("parsing", "embedding"), figures
    assert figures["early_wait_s"] < EARLY_WAIT_S, figures
    assert figures["small_wait_s"] < SMALL_WAIT_S, figures
    flood = figures["flood"]
    assert sum(flood["strangers"].values()) > STRANGERS, flood  # the flood really ran
    assert set(flood["legit_statuses"]) == {"200"}, flood  # no 503, 429 or reset for them
    assert flood["legit_p95_s"] < 2.0, flood
    assert [f.status_code for f in finals] == [200, 200], [f.text[:300] for f in finals]
    assert hits.status_code == 200 and hits.json()["hits"], hits.text[:300]


def _waited(doc: dict[str, Any]) -> float:
    """Seconds from a document's upload to its last status change (indexed)."""
    created = datetime.fromisoformat(doc["created_at"])
    return round((datetime.fromisoformat(doc["updated_at"]) - created).total_seconds(), 1)


def _vm_hwm_mb(pid: int) -> float:
    """The process's peak RSS as the kernel counted it (not sampled)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")
