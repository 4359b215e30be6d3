// Load test of a running ragd with SLO thresholds (k6 exits non-zero when one is crossed).
//
//   k6 run -e RAGD_URL=http://127.0.0.1:8000 bench/load/k6-ragd.js
//   (options: -e VUS=4 -e DURATION=20s -e RAGD_LOAD_KNOWN_DOCS=known.json -e RAGD_API_KEY=...)
//
// setup() uploads this run's documents and waits until they are indexed. Virtual users then
// search and ask. Thresholds: P95 < 2.5 s, failed requests < 1%, checks > 99%, and no
// cross-tenant data: every hit and citation belongs to a document the test uploaded or
// listed in RAGD_LOAD_KNOWN_DOCS (a JSON list of ids). As in locustfile.py, this is one
// caller's view until the run gets its own tenant and key (see bench/load/README.md).
import http from "k6/http";
import { check, sleep, fail } from "k6";
import { Counter } from "k6/metrics";

const BASE = (__ENV.RAGD_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const HEADERS = { "content-type": "application/json" };
if (__ENV.RAGD_API_KEY) HEADERS["x-api-key"] = __ENV.RAGD_API_KEY;
const KNOWN = __ENV.RAGD_LOAD_KNOWN_DOCS ? JSON.parse(open(__ENV.RAGD_LOAD_KNOWN_DOCS)) : [];
const RUN = Math.random().toString(16).slice(2, 10);

const crossTenant = new Counter("ragd_cross_tenant_hits");

export const options = {
  scenarios: {
    users: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 4),
      duration: __ENV.DURATION || "20s",
    },
  },
  thresholds: {
    http_req_duration: ["p(95)<2500"],
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    ragd_cross_tenant_hits: ["count==0"],
  },
  setupTimeout: "120s",
};

const FACTS = [
  ["lighthouse", "The lighthouse on Skerry Point flashes green every four seconds."],
  ["glacier", "The Aletsch glacier retreats by roughly fifty metres in a warm year."],
  ["violin", "A violin's sound post transmits vibrations from the top plate to the back."],
];
const QUESTIONS = [
  "how do bees tell each other the distance to flowers?",
  "what causes spring tides?",
  "how often does the lighthouse flash?",
  "how fast is the glacier retreating?",
  "what does the sound post of a violin do?",
];

export function setup() {
  const ids = [];
  for (const [topic, text] of FACTS) {
    const body = JSON.stringify({ text: `${text} (k6 run ${RUN})`, title: `k6-${RUN}-${topic}` });
    const r = http.post(`${BASE}/api/v1/documents`, body, { headers: HEADERS });
    if (r.status !== 200 && r.status !== 202) fail(`upload answered ${r.status}: ${r.body}`);
    ids.push(r.json("id"));
  }
  for (const id of ids) {
    for (let i = 0; ; i++) {
      const doc = http.get(`${BASE}/api/v1/documents/${id}`, { headers: HEADERS });
      if (doc.status === 200 && doc.json("status") === "indexed") break;
      if (i > 300) fail(`document ${id} not indexed in time`);
      sleep(0.2);
    }
  }
  return { known: KNOWN.concat(ids) };
}

function foreign(data, documentIds) {
  const known = new Set(data.known);
  return documentIds.filter((id) => !known.has(id));
}

export default function (data) {
  const question = QUESTIONS[Math.floor(Math.random() * QUESTIONS.length)];
  if (Math.random() < 0.7) {
    const r = http.post(
      `${BASE}/api/v1/search`,
      JSON.stringify({ query: question, top_k: 5, mode: "hybrid" }),
      { headers: HEADERS, tags: { name: "search" } },
    );
    const ok = check(r, { "search 200": (res) => res.status === 200 });
    if (ok) {
      const bad = foreign(data, r.json("hits").map((h) => h.document_id));
      if (bad.length) crossTenant.add(bad.length);
    }
  } else {
    const r = http.post(
      `${BASE}/api/v1/query`,
      JSON.stringify({ query: question, top_k: 5 }),
      { headers: HEADERS, tags: { name: "query" } },
    );
    const ok = check(r, { "query 200": (res) => res.status === 200 });
    if (ok) {
      const body = r.json();
      const ids = (body.citations || []).map((c) => c.document_id)
        .concat((body.passages || []).map((p) => p.document_id));
      const bad = foreign(data, ids);
      if (bad.length) crossTenant.add(bad.length);
    }
  }
  sleep(0.05 + Math.random() * 0.25);
}
