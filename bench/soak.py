"""Soak: a mixed load at a fixed rate against one live ``ragd serve`` for a long time.

Two tenants (auth required, one key each; tenant ``beta`` has a per-tenant rate limit so
the limiter answers some 429s) send uploads (JSON text and multipart files), searches,
plain and streamed queries and deletes, on loopback only, at ``--rate`` requests per
second from a few client threads. Each tenant's corpus is held near ``--docs`` documents
(an upload beyond it is followed by a delete of its oldest document), so a server that
does not leak should reach a steady state.

Every ``--sample`` seconds the server is read with psutil: RSS (the API process and its
embedded worker process together, the parse sandbox's children separately), open file
descriptors and threads.
After ``--warmup`` seconds the first and last fifths of the samples are compared.

Pass criteria (exit 1 otherwise):

* RSS growth after warm-up < 5 % (mean of the last fifth against the first fifth;
  ``--max-rss-growth``: a run of a minute is too short for a steady state);
* no answer other than the intended ones (2xx, 429 rate limited, 503 overloaded), no
  transport error;
* no file-descriptor or thread growth (last fifth's maximum not above the first fifth's
  maximum plus a small allowance for the thread pool's lazily started threads).

    python bench/soak.py --duration 1800 [--rate 4] [--json out.json]
    python bench/soak.py --duration 60 --warmup 20        # smoke run

The server uses the embedding model the environment names (``EMBEDDING_MODEL``; the
shipped MiniLM by default); ``--embedding hashing-64`` makes the load lighter.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from ragd.config import Settings
from ragd.domain.accounts import TenantLimits
from ragd.services.container import build_services, migrate_database

INTENDED = {200, 201, 202, 204, 429, 503}
WORDS = (
    "honeybees dance waggle nectar pollen hive colony queen worker drone forage flower "
    "season winter summer temperature wax comb larva brood swarm orientation sun distance "
    "the of and to in a is that for it as was with be by on not this are or from at which"
).split()
QUESTIONS = [
    "how do bees show where food is",
    "what happens to the colony in winter",
    "what does the queen do",
    "why do bees swarm",
    "how far do workers forage",
]
# Fractions of the mix; a delete follows every upload that takes a tenant past --docs.
MIX = (("search", 0.40), ("query", 0.20), ("stream", 0.15), ("upload", 0.15), ("list", 0.10))
FD_ALLOWANCE = 8
THREAD_ALLOWANCE = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _text(rng: random.Random, words: int) -> str:
    sentences = []
    while words > 0:
        n = min(words, rng.randint(6, 20))
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        words -= n
    return " ".join(sentences)


def _tenants(data: Path, embedding: str | None) -> dict[str, str]:
    """Two tenants with one key each; ``beta`` rate-limited so the limiter is exercised."""
    overrides: dict[str, Any] = {"data_dir": data, "database_url": None, "auth": "required"}
    if embedding:
        overrides["embedding_model"] = embedding
    settings = Settings(**overrides)
    migrate_database(settings)
    services = build_services(settings)
    try:
        alpha = services.account_admin.create_tenant("alpha").key.plaintext
        beta = services.account_admin.create_tenant(
            "beta", limits=TenantLimits(rate_limit_rpm=100)
        ).key.plaintext
    finally:
        services.close()
    return {"alpha": alpha, "beta": beta}


@contextmanager
def _server(data: Path, embedding: str | None, log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {
        **os.environ,
        "RAGD_DATA_DIR": str(data),
        "RAGD_AUTH": "required",
        "RAGD_WORKER_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "warning",
    }
    env.pop("DATABASE_URL", None)
    if embedding:
        env["EMBEDDING_MODEL"] = embedding
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragd.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(base + "/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"ragd serve did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield base, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Tally:
    """What the clients saw, shared by the client threads."""

    statuses: Counter[str] = field(default_factory=Counter)
    by_op: dict[str, Counter[str]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, status: str, seconds: float, detail: str = "") -> None:
        with self.lock:
            self.statuses[status] += 1
            self.by_op.setdefault(op, Counter())[status] += 1
            self.latencies.setdefault(op, []).append(seconds)
            if not (status.isdigit() and int(status) in INTENDED) and len(self.unexpected) < 20:
                self.unexpected.append(f"{op}: {status} {detail[:300]}")


class Tenant:
    """One tenant's client: its key, its live documents (oldest first)."""

    def __init__(self, name: str, base: str, key: str, docs: int, seed: int) -> None:
        self.name = name
        self.http = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60)
        self.docs: deque[str] = deque()
        self.target = docs
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.serial = 0

    def op(self, kind: str, tally: Tally) -> None:
        started = time.perf_counter()
        try:
            status, detail = getattr(self, "_" + kind)()
        except httpx.HTTPError as exc:
            status, detail = type(exc).__name__, str(exc)
        tally.add(kind, status, time.perf_counter() - started, detail)
        if kind == "upload":
            with self.lock:
                victim = self.docs.popleft() if len(self.docs) > self.target else None
            if victim:
                started = time.perf_counter()
                try:
                    r = self.http.delete(f"/api/v1/documents/{victim}")
                    status, detail = str(r.status_code), r.text
                except httpx.HTTPError as exc:
                    status, detail = type(exc).__name__, str(exc)
                tally.add("delete", status, time.perf_counter() - started, detail)

    def _upload(self) -> tuple[str, str]:
        with self.lock:
            self.serial += 1
            serial = self.serial
            text = f"Note {self.name} {serial}. " + _text(self.rng, self.rng.randint(80, 1500))
        if serial % 2:
            r = self.http.post(
                "/api/v1/documents",
                json={"text": text, "title": f"note {serial}", "metadata": {"n": serial}},
            )
        else:
            r = self.http.post(
                "/api/v1/documents",
                files={"file": (f"note-{serial}.txt", text.encode(), "text/plain")},
                data={"metadata": json.dumps({"n": serial})},
            )
        if r.status_code in (200, 202):
            with self.lock:
                self.docs.append(r.json()["id"])
        return str(r.status_code), r.text

    def _search(self) -> tuple[str, str]:
        r = self.http.post("/api/v1/search", json={"query": self.rng.choice(QUESTIONS), "top_k": 5})
        return str(r.status_code), r.text

    def _query(self) -> tuple[str, str]:
        r = self.http.post("/api/v1/query", json={"query": self.rng.choice(QUESTIONS)})
        return str(r.status_code), r.text

    def _stream(self) -> tuple[str, str]:
        body = {"query": self.rng.choice(QUESTIONS), "stream": True}
        with self.http.stream("POST", "/api/v1/query", json=body) as r:
            text = "".join(r.iter_text())
        if r.status_code == 200 and "event: done" not in text:
            return "stream-incomplete", text[-300:]
        return str(r.status_code), text

    def _list(self) -> tuple[str, str]:
        r = self.http.get("/api/v1/documents", params={"limit": 20})
        return str(r.status_code), r.text


def _sample(pid: int) -> dict[str, float]:
    """The server: the API process and its embedded worker process (``ragd serve`` runs
    the worker as a child since issue 17; a leak in either counts); its other children
    (the parse sandbox) apart."""
    proc = psutil.Process(pid)
    with proc.oneshot():
        rss = proc.memory_info().rss
        fds = proc.num_fds()
        threads = proc.num_threads()
    children = 0
    for child in proc.children(recursive=True):
        with suppress(psutil.Error), child.oneshot():
            if "ragd.api.embedded_worker" in child.cmdline():
                rss += child.memory_info().rss
                fds += child.num_fds()
                threads += child.num_threads()
            else:
                children += child.memory_info().rss
    return {
        "t": time.monotonic(),
        "rss_mb": rss / 2**20,
        "children_rss_mb": children / 2**20,
        "fds": fds,
        "threads": threads,
    }


def soak(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ragd-soak-") as tmp:
        data = Path(tmp) / "data"
        keys = _tenants(data, args.embedding)
        with _server(data, args.embedding, Path(tmp) / "serve.log") as (base, pid):
            tenants = [
                Tenant(name, base, key, args.docs, seed)
                for seed, (name, key) in enumerate(keys.items())
            ]
            tally = Tally()
            for tenant in tenants:  # a first corpus, so searches find something
                for _ in range(min(5, args.docs)):
                    tenant.op("upload", tally)
            samples: list[dict[str, float]] = []
            started = time.monotonic()
            until = started + args.duration
            stop = threading.Event()

            def sampler() -> None:
                while not stop.is_set():
                    samples.append(_sample(pid))
                    stop.wait(args.sample)

            jobs: deque[tuple[float, Tenant, str]] = deque()
            jobs_lock = threading.Condition()
            rng = random.Random(args.seed)
            ops = [name for name, _ in MIX]
            weights = [weight for _, weight in MIX]

            def client() -> None:
                while True:
                    with jobs_lock:
                        while not jobs and not stop.is_set():
                            jobs_lock.wait(0.5)
                        if not jobs:
                            return
                        due, tenant, kind = jobs.popleft()
                    time.sleep(max(0.0, due - time.monotonic()))
                    tenant.op(kind, tally)

            threads = [threading.Thread(target=sampler, daemon=True)]
            threads += [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            # A fixed schedule: one request every 1/rate seconds, whatever the answers take;
            # if the clients fall behind, the backlog is dropped, not piled on the server.
            due, dropped = started, 0
            while due < until:
                due += 1.0 / args.rate
                with jobs_lock:
                    if len(jobs) > args.clients * 4:
                        jobs.popleft()
                        dropped += 1
                    jobs.append((due, rng.choice(tenants), rng.choices(ops, weights)[0]))
                    jobs_lock.notify()
                time.sleep(max(0.0, due - time.monotonic() - 0.5))
            while time.monotonic() < until + 5:
                with jobs_lock:
                    if not jobs:
                        break
                time.sleep(0.2)
            stop.set()
            with jobs_lock:
                jobs.clear()
                jobs_lock.notify_all()
            for thread in threads:
                thread.join(timeout=90)
            # Still answering at the end: a legitimate query of each tenant.
            final = [t.http.post("/api/v1/query", json={"query": QUESTIONS[0]}) for t in tenants]
            for tenant in tenants:
                tenant.http.close()
    return _report(args, samples, tally, started, dropped, [r.status_code for r in final])


def _report(
    args: argparse.Namespace,
    samples: list[dict[str, float]],
    tally: Tally,
    started: float,
    dropped: int,
    final: list[int],
) -> dict[str, Any]:
    steady = [s for s in samples if s["t"] - started >= args.warmup]
    fifth = max(1, len(steady) // 5)
    first, last = steady[:fifth], steady[-fifth:]

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    def peak(rows: list[dict[str, float]], key: str) -> float:
        return max(r[key] for r in rows)

    rss_growth = (mean(last, "rss_mb") - mean(first, "rss_mb")) / mean(first, "rss_mb")
    fd_growth = peak(last, "fds") - peak(first, "fds")
    thread_growth = peak(last, "threads") - peak(first, "threads")
    requests = sum(tally.statuses.values())
    latencies = {
        op: {
            "n": len(v),
            "p50_s": round(statistics.median(v), 3),
            "p95_s": round(sorted(v)[int(0.95 * (len(v) - 1))], 3),
        }
        for op, v in sorted(tally.latencies.items())
    }
    figures: dict[str, Any] = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rate_per_s": args.rate,
        "embedding": args.embedding or os.environ.get("EMBEDDING_MODEL", "default"),
        "requests": requests,
        "answered_per_s": round(requests / max(1.0, args.duration), 2),
        "dropped_from_schedule": dropped,
        "statuses": dict(sorted(tally.statuses.items())),
        "by_op": {op: dict(sorted(c.items())) for op, c in sorted(tally.by_op.items())},
        "latency": latencies,
        "samples": len(samples),
        "rss_mb_after_warmup": round(mean(first, "rss_mb"), 1),
        "rss_mb_at_end": round(mean(last, "rss_mb"), 1),
        "rss_mb_peak": round(peak(steady, "rss_mb"), 1),
        "rss_growth_pct": round(100 * rss_growth, 2),
        "children_rss_mb_peak": round(peak(samples, "children_rss_mb"), 1),
        "fds_first_last_max": [peak(first, "fds"), peak(last, "fds")],
        "threads_first_last_max": [peak(first, "threads"), peak(last, "threads")],
        "final_query_statuses": final,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "unexpected": tally.unexpected,
        "series": [
            {k: round(v - started if k == "t" else v, 1) for k, v in s.items()} for s in samples
        ],
    }
    failures = []
    if rss_growth >= args.max_rss_growth / 100:
        failures.append(f"RSS grew {100 * rss_growth:.1f} % after warm-up")
    unexpected = {
        s: n for s, n in tally.statuses.items() if not (s.isdigit() and int(s) in INTENDED)
    }
    if unexpected:
        failures.append(f"unintended answers {unexpected}")
    if fd_growth > FD_ALLOWANCE:
        failures.append(f"file descriptors grew by {fd_growth}")
    if thread_growth > THREAD_ALLOWANCE:
        failures.append(f"threads grew by {thread_growth}")
    if final != [200, 200]:
        failures.append(f"final queries answered {final}")
    figures["failures"] = failures
    figures["passed"] = not failures
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default 10 %%)")
    parser.add_argument("--rate", type=float, default=4.0, help="requests per second")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--docs", type=int, default=40, help="documents kept per tenant")
    parser.add_argument("--sample", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--embedding", default=None, help="EMBEDDING_MODEL for the server")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--max-rss-growth", type=float, default=5.0, help="%% allowed after warm-up (pass/fail)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(20.0, args.duration / 10)
    figures = soak(args)
    series = figures.pop("series")
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps({**figures, "series": series}, indent=2))
    print("PASS" if figures["passed"] else "FAIL: " + "; ".join(figures["failures"]))
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
