// Synced sources: the list with each one's last run (items seen/added/changed/deleted/failed,
// failures with their reasons) and next run; "Run now"; tenant admins add and remove them.
// Secrets go in once (write-only fields) and are never shown: the API does not return them.
import { api } from "./api.js";
import { alertBox, announce, field, fmtDate, h } from "./dom.js";

const POLL_MS = 3000;

export function view(main, { can }) {
  const admin = can("tenant_admin");
  const state = { timer: null, alive: true };
  const listError = h("div", { "aria-live": "assertive" });
  const list = h("div", { "data-testid": "sources" });

  main.append(h("h1", { tabindex: "-1" }, "Sources"),
    h("p", { class: "hint" }, "Places ragd reads on a schedule and keeps the index equal to: " +
      "new items are added, changed ones replaced, removed ones deleted."));
  if (admin) main.append(addForm());
  main.append(h("section", { "aria-labelledby": "sources-h" },
    h("h2", { id: "sources-h" }, "Synced sources"), listError, list));

  function addForm() {
    const name = h("input", { name: "name", required: true, autocomplete: "off", placeholder: "handbook" });
    const kind = h("select", { name: "kind" }, ["web", "s3", "folder"].map((k) => h("option", { value: k }, k)));
    const where = h("input", { name: "where", required: true, autocomplete: "off" });
    const prefix = h("input", { name: "prefix", autocomplete: "off" });
    const endpoint = h("input", { name: "endpoint", autocomplete: "off", placeholder: "https://s3.example.com" });
    const keyId = h("input", { name: "access_key_id", autocomplete: "off" });
    const secret = h("input", { name: "secret_access_key", type: "password", autocomplete: "new-password" });
    const interval = h("input", { name: "interval", type: "number", min: "60", placeholder: "3600" });
    const error = h("div", { "aria-live": "assertive" });
    const s3Only = h("div", { class: "row" }, field("Prefix", prefix), field("Endpoint (S3-compatible)", endpoint),
      field("Access key id", keyId), field("Secret access key", secret, "Stored encrypted, never shown again."));
    const whereLabel = field("Start URL", where);
    const sync = () => {
      const k = kind.value;
      whereLabel.querySelector("label").textContent = k === "web" ? "Start URL" : k === "s3" ? "Bucket" : "Folder on the server";
      s3Only.hidden = k !== "s3";
    };
    kind.addEventListener("change", sync);
    sync();
    const form = h("form", { class: "card", "aria-labelledby": "add-source-h" },
      h("h2", { id: "add-source-h" }, "Add a source"),
      h("div", { class: "row" }, field("Name", name), field("Kind", kind), whereLabel,
        field("Every (seconds)", interval)),
      s3Only,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Add")), error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.replaceChildren();
      const k = kind.value;
      const config = k === "web" ? { start_urls: [where.value.trim()] }
        : k === "s3" ? { bucket: where.value.trim(), prefix: prefix.value.trim(), ...(endpoint.value.trim() ? { endpoint_url: endpoint.value.trim() } : {}) }
        : { path: where.value.trim() };
      const body = { name: name.value.trim(), kind: k, config };
      if (k === "s3" && keyId.value) body.secret = { access_key_id: keyId.value, secret_access_key: secret.value };
      if (interval.value) body.interval_seconds = Number(interval.value);
      try {
        await api("/api/v1/sources", { method: "POST", json: body });
        announce(`Added source ${body.name}`);
        form.reset();
        sync();
        refresh();
      } catch (e) {
        error.append(alertBox(e.message));
      }
    });
    return form;
  }

  function card(s) {
    const st = s.status;
    const outcome = st.running ? "running" : (st.last_outcome || "never run");
    const counts = `seen ${st.seen} · added ${st.added} · changed ${st.changed} · ` +
      `unchanged ${st.unchanged} · deleted ${st.deleted} · failed ${st.failed}`;
    const failures = st.failures.length ? h("details", {}, h("summary", {}, `${st.failed} failed item(s)`),
      h("ul", {}, st.failures.map((f) => h("li", {}, h("code", {}, f.key), `: ${f.reason}`)))) : null;
    const notes = st.notes.length ? h("ul", { class: "hint" }, st.notes.map((n) => h("li", {}, n))) : null;
    const run = h("button", { type: "button", class: "secondary small", "aria-label": `Run ${s.name} now`,
      onclick: () => act(() => api(`/api/v1/sources/${encodeURIComponent(s.id)}/run`, { method: "POST" }), `${s.name} will run shortly`) }, "Run now");
    const remove = admin ? h("button", { type: "button", class: "danger small", "aria-label": `Remove ${s.name}`,
      onclick: () => {
        if (!confirm(`Remove “${s.name}” and the documents it brought in?`)) return;
        act(() => api(`/api/v1/sources/${encodeURIComponent(s.id)}`, { method: "DELETE" }), `Removed ${s.name}`);
      } }, "Remove") : null;
    return h("article", { class: "card", dataset: { id: s.id, outcome } },
      h("h3", {}, s.name, " ", h("span", { class: "badge" }, s.kind), " ",
        h("span", { class: `badge status-${outcome === "success" ? "indexed" : outcome === "failed" ? "failed" : "queued"}` }, outcome),
        s.has_secret ? h("span", { class: "badge" }, "credentials set") : null),
      h("p", { class: "hint" }, describe(s)),
      h("p", {}, counts, ` · ${st.items} item(s) held`),
      st.last_error ? h("p", { class: "doc-error" }, st.last_error) : null,
      failures, notes,
      h("p", { class: "hint" }, `Last run: ${st.last_finished_at ? fmtDate(st.last_finished_at) : "—"} · ` +
        `next: ${st.next_run_at ? fmtDate(st.next_run_at) : "off"}`),
      h("div", { class: "actions" }, run, remove));
  }

  function describe(s) {
    const c = s.config;
    if (s.kind === "web") return (c.start_urls || []).join(", ") + (c.sitemap_url ? ` + ${c.sitemap_url}` : "");
    if (s.kind === "s3") return `s3://${c.bucket}/${c.prefix || ""}` + (c.endpoint_url ? ` at ${c.endpoint_url}` : "");
    return c.path;
  }

  async function act(call, message) {
    listError.replaceChildren();
    try {
      await call();
      announce(message);
    } catch (e) {
      listError.append(alertBox(e.message));
    }
    refresh();
  }

  async function refresh() {
    clearTimeout(state.timer);
    try {
      const { sources } = await api("/api/v1/sources");
      if (!state.alive) return;
      list.replaceChildren(...(sources.length ? sources.map(card) : [h("p", { class: "empty" }, "No sources yet.")]));
    } catch (e) {
      listError.replaceChildren(alertBox(e.message));
    }
    if (state.alive) state.timer = setTimeout(refresh, POLL_MS);
  }

  refresh();
  return () => { state.alive = false; clearTimeout(state.timer); };
}
