"""Load test of a running ragd with SLO thresholds; the exit code says pass (0) or fail (1).

    locust -f bench/load/locustfile.py --headless -u 4 -r 4 -t 20s --host http://127.0.0.1:8000

Users search (hybrid, dense, sparse) and ask questions, over the documents the test itself
uploads at start plus any listed in RAGD_LOAD_KNOWN_DOCS (a JSON list of document ids, e.g.
the sample corpus ingested beforehand). Thresholds, checked when the run ends:

* P95 of every request below RAGD_SLO_P95_MS (2500 ms, the latency objective the alert
  rules in deploy/monitoring/rules/ragd-alerts.yml hold: P95 <= 2.5 s);
* failed requests (non-2xx, transport errors) below RAGD_SLO_ERROR_RATE (0.01);
* no cross-tenant data: every hit and citation must belong to a document this test
  uploaded or listed. Tenancy is not wired into this check yet: it runs as one caller
  (RAGD_API_KEY, if set, is sent as X-API-Key), so it proves that no document outside the
  test's own set is ever returned; with a dedicated tenant and key per run, that is the
  cross-tenant guarantee. Against a shared instance with other data, list that data's ids
  in RAGD_LOAD_KNOWN_DOCS or the check (rightly) fails.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from typing import Any

import requests
from locust import HttpUser, between, events, task

P95_MS = float(os.environ.get("RAGD_SLO_P95_MS", "2500"))
MAX_ERROR_RATE = float(os.environ.get("RAGD_SLO_ERROR_RATE", "0.01"))
RUN_ID = uuid.uuid4().hex[:8]
HEADERS = {"X-API-Key": os.environ["RAGD_API_KEY"]} if os.environ.get("RAGD_API_KEY") else {}

FACTS = [
    ("lighthouse", "The lighthouse on Skerry Point flashes green every four seconds."),
    ("glacier", "The Aletsch glacier retreats by roughly fifty metres in a warm year."),
    ("violin", "A violin's sound post transmits vibrations from the top plate to the back."),
    ("sourdough", "Sourdough starter needs feeding with flour and water every day at room heat."),
]
QUESTIONS = [
    "how do bees tell each other the distance to flowers?",
    "what causes spring tides?",
    "who built the first printing press with movable type?",
    "how often does the lighthouse flash?",
    "how fast is the glacier retreating?",
    "what does the sound post of a violin do?",
    "how often must a sourdough starter be fed?",
]

known: set[str] = set()
violations: list[str] = []


def _load_known() -> None:
    path = os.environ.get("RAGD_LOAD_KNOWN_DOCS")
    if path:
        with open(path) as fh:
            known.update(str(x) for x in json.load(fh))


@events.test_start.add_listener
def upload_documents(environment: Any, **_: Any) -> None:
    """Upload this run's documents and wait until they are searchable."""
    _load_known()
    base = environment.host.rstrip("/")
    ids = []
    for topic, text in FACTS:
        body = {
            "text": f"{text} (load test run {RUN_ID})",
            "title": f"load-{RUN_ID}-{topic}",
            "metadata": {"load_test_run": RUN_ID},
        }
        r = requests.post(f"{base}/api/v1/documents", json=body, headers=HEADERS, timeout=30)
        r.raise_for_status()
        ids.append(r.json()["id"])
    deadline = time.monotonic() + 120
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for doc_id in list(pending):
            r = requests.get(f"{base}/api/v1/documents/{doc_id}", headers=HEADERS, timeout=30)
            if r.ok and r.json()["status"] == "indexed":
                pending.discard(doc_id)
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"documents not indexed in time: {sorted(pending)}")
    known.update(ids)


def _check_documents(response: Any, ids: list[str], what: str) -> None:
    foreign = sorted({i for i in ids if i not in known})
    if foreign:
        message = f"cross-tenant data: {what} returned documents outside the test's set: {foreign}"
        violations.append(message)
        response.failure(message)


class RagdUser(HttpUser):
    wait_time = between(0.05, 0.3)

    @task(4)
    def search(self) -> None:
        body = {
            "query": random.choice(QUESTIONS),
            "top_k": 5,
            "mode": random.choice(["hybrid", "hybrid", "dense", "sparse"]),
        }
        with self.client.post(
            "/api/v1/search", json=body, headers=HEADERS, name="search", catch_response=True
        ) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
                return
            _check_documents(r, [h["document_id"] for h in r.json()["hits"]], "search")

    @task(2)
    def query(self) -> None:
        body = {"query": random.choice(QUESTIONS), "top_k": 5}
        with self.client.post(
            "/api/v1/query", json=body, headers=HEADERS, name="query", catch_response=True
        ) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")
                return
            data = r.json()
            ids = [c["document_id"] for c in data.get("citations", [])]
            ids += [p["document_id"] for p in data.get("passages", [])]
            _check_documents(r, ids, "query")

    @task(1)
    def ready(self) -> None:
        self.client.get("/ready", name="ready")


@events.quitting.add_listener
def check_thresholds(environment: Any, **_: Any) -> None:
    total = environment.stats.total
    failures: list[str] = []
    if total.num_requests == 0:
        failures.append("no requests were made")
    else:
        p95 = total.get_response_time_percentile(0.95)
        if p95 > P95_MS:
            failures.append(f"p95 {p95:.0f} ms above {P95_MS:.0f} ms")
        if total.fail_ratio > MAX_ERROR_RATE:
            failures.append(f"error rate {total.fail_ratio:.2%} above {MAX_ERROR_RATE:.2%}")
    if violations:
        failures.append(f"{len(violations)} cross-tenant violation(s), first: {violations[0]}")
    summary = (
        f"ragd load SLO: {total.num_requests} requests, p95 "
        f"{total.get_response_time_percentile(0.95) or 0:.0f} ms, "
        f"errors {total.fail_ratio:.2%}, cross-tenant {len(violations)}"
    )
    print(summary)
    for f in failures:
        print(f"SLO FAILED: {f}")
    environment.process_exit_code = 1 if failures else 0
