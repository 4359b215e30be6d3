// Document library: upload (drag and drop or the file picker, several files at once), live
// status per document by polling, retry of failed ones, delete, search by name.
import { api } from "./api.js";
import { collectionPicker } from "./collections.js";
import { alertBox, announce, field, fmtBytes, fmtDate, h, parsePairs } from "./dom.js";

const IN_PROGRESS = new Set(["queued", "parsing", "embedding"]);
const PAGE = 50;
const FAST_POLL_MS = 1500; // while something is being ingested
const SLOW_POLL_MS = 10000;

export function view(main, { can }) {
  const editor = can("editor");
  const state = { q: "", status: "", collection: "", offset: 0, rows: new Map(), order: "", timer: null, alive: true, gen: 0 };

  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads", "aria-live": "polite" });
  const search = h("input", { type: "search", name: "q", autocomplete: "off" });
  const status = h("select", { name: "status" },
    ["", "queued", "parsing", "embedding", "indexed", "failed"].map((s) => h("option", { value: s }, s || "any")));
  const inCollection = collectionPicker("collection", "all you can read");
  const tbody = h("tbody");
  const listError = h("div", { "aria-live": "assertive" });
  const count = h("p", { class: "hint", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "secondary small" }, "Previous");
  const next = h("button", { type: "button", class: "secondary small" }, "Next");

  main.append(h("h1", { tabindex: "-1" }, "Documents"));
  if (editor) main.append(uploadSection());
  main.append(
    h("section", { "aria-labelledby": "docs-h" },
      h("h2", { id: "docs-h" }, "Library"),
      h("form", { class: "row filters", role: "search", onsubmit: (e) => e.preventDefault() },
        field("Search by name", search), field("Status", status), field("Collection", inCollection)),
      listError,
      h("div", { class: "table-wrap" }, h("table", { class: "docs" },
        h("caption", { class: "sr-only" }, "Documents and their ingestion status"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col" }, "Collection"), h("th", { scope: "col", class: "num" }, "Chunks"), h("th", { scope: "col", class: "num" }, "Size"),
          h("th", { scope: "col" }, "Updated"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
        tbody)),
      h("div", { class: "pager" }, count, prev, next)));

  let debounce = null;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; refresh(); }, 250);
  });
  status.addEventListener("change", () => { state.status = status.value; state.offset = 0; refresh(); });
  inCollection.addEventListener("change", () => { state.collection = inCollection.value; state.offset = 0; refresh(); });
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
  next.addEventListener("click", () => { state.offset += PAGE; refresh(); });

  function uploadSection() {
    const input = h("input", { type: "file", multiple: true, class: "file-input", id: "file-input" });
    const zone = h("div", { class: "dropzone", "data-testid": "dropzone" },
      h("p", {}, "Drop files here, or"),
      input, h("label", { for: "file-input", class: "button" }, "Choose files…"),
      h("p", { class: "hint" }, "PDF, Word (.docx), HTML, Markdown, text, JSON and JSONL."));
    const meta = h("input", { type: "text", name: "metadata", placeholder: "team=docs, year=2024", autocomplete: "off" });
    state.meta = meta;
    const target = collectionPicker("upload_collection", "default");
    state.target = target;
    input.addEventListener("change", () => { uploadAll([...input.files]); input.value = ""; });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      uploadAll([...(e.dataTransfer?.files || [])]);
    });
    return h("section", { "aria-labelledby": "upload-h" }, h("h2", { id: "upload-h" }, "Upload"),
      field("Metadata for new files", meta, "Optional key=value pairs, comma-separated; chat filters match them."),
      field("Upload to collection", target),
      zone, uploads);
  }

  async function uploadAll(files) {
    let metadata = {};
    state.meta.removeAttribute("aria-invalid");
    try {
      metadata = parsePairs(state.meta.value);
    } catch (e) {
      state.meta.setAttribute("aria-invalid", "true");
      uploads.prepend(h("li", { class: "bad", role: "alert" }, `Metadata: ${e.message}; nothing was uploaded.`));
      state.meta.focus();
      return;
    }
    for (const file of files) {
      const line = h("li", {}, h("span", { class: "upload-name" }, file.name), " ", h("span", {}, "uploading…"));
      uploads.prepend(line);
      const body = new FormData();
      body.append("file", file, file.name);
      if (Object.keys(metadata).length) body.append("metadata", JSON.stringify(metadata));
      if (state.target?.value) body.append("collection", state.target.value);
      let outcome;
      try {
        const doc = await api("/api/v1/documents", { method: "POST", body });
        outcome = doc.outcome === "unchanged" ? "already stored, unchanged" : `${doc.outcome}`;
        line.dataset.outcome = doc.outcome;
      } catch (e) {
        outcome = `failed: ${e.message}`;
        line.dataset.outcome = "failed";
        line.classList.add("bad");
      }
      line.lastChild.textContent = outcome;
      announce(`${file.name}: ${outcome}`);
    }
    refresh();
  }

  function rowKey(d) {
    return [d.status, d.error, d.chunks, d.updated_at, d.title].join("|");
  }

  function row(d) {
    const cells = [
      h("td", {}, h("span", { class: "doc-title" }, d.title),
        d.source && d.source !== d.title ? h("span", { class: "hint block" }, d.source) : null),
      h("td", {}, h("span", { class: `badge status-${d.status}` }, d.status),
        d.error ? h("p", { class: "doc-error" }, d.error) : null),
      h("td", {}, d.collection || "default"),
      h("td", { class: "num" }, String(d.chunks)),
      h("td", { class: "num" }, fmtBytes(d.size_bytes)),
      h("td", {}, fmtDate(d.updated_at)),
      h("td", { class: "row-actions" }, editor ? actions(d) : null),
    ];
    const tr = h("tr", { dataset: { id: d.id, status: d.status } }, cells);
    tr._key = rowKey(d);
    return tr;
  }

  function actions(d) {
    const out = [];
    if (d.status === "failed") {
      out.push(h("button", {
        type: "button", class: "secondary small", "aria-label": `Retry ${d.title}`,
        onclick: () => act(() => api(`/api/v1/documents/${encodeURIComponent(d.id)}/retry`, { method: "POST" }), `Queued ${d.title} again`),
      }, "Retry"));
    }
    out.push(h("button", {
      type: "button", class: "danger small", "aria-label": `Delete ${d.title}`,
      onclick: () => {
        if (!confirm(`Delete “${d.title}” and everything indexed from it?`)) return;
        act(() => api(`/api/v1/documents/${encodeURIComponent(d.id)}`, { method: "DELETE" }), `Deleted ${d.title}`);
      },
    }, "Delete"));
    return out;
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

  // Rows whose document did not change are kept as they are (a focused button keeps focus).
  function show(docs) {
    const order = docs.map((d) => d.id).join(",");
    const fresh = new Map();
    const rows = docs.map((d) => {
      const old = state.rows.get(d.id);
      const tr = old && old._key === rowKey(d) ? old : row(d);
      fresh.set(d.id, tr);
      return tr;
    });
    if (order !== state.order || !docs.length) {
      tbody.replaceChildren(...rows);
      if (!docs.length) {
        tbody.append(h("tr", {}, h("td", { colspan: "6", class: "empty" },
          state.q || state.status ? "No documents match." : "No documents yet.")));
      }
    } else {
      rows.forEach((tr, i) => {
        const current = tbody.children[i];
        if (current !== tr) current.replaceWith(tr);
      });
    }
    state.rows = fresh;
    state.order = order;
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (!state.alive) return;
    state.gen += 1;
    const gen = state.gen; // only the latest refresh shows its result and schedules the next
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
    if (state.q) params.set("q", state.q);
    if (state.status) params.set("status", state.status);
    if (state.collection) params.set("collection", state.collection);
    let delay = SLOW_POLL_MS;
    try {
      const data = await api(`/api/v1/documents?${params}`);
      if (!state.alive || gen !== state.gen) return;
      show(data.documents);
      if (data.documents.some((d) => IN_PROGRESS.has(d.status))) delay = FAST_POLL_MS;
      const first = data.documents.length ? state.offset + 1 : 0;
      const last = state.offset + data.documents.length;
      count.textContent = state.q
        ? `${data.documents.length} matching`
        : `${first}–${last} of ${data.total}`;
      prev.disabled = state.offset === 0;
      next.disabled = data.documents.length < PAGE;
      listError.replaceChildren();
    } catch (e) {
      if (!state.alive || gen !== state.gen) return;
      listError.replaceChildren(alertBox(`Could not load documents: ${e.message}`));
      if (e.retryAfter) delay = Math.max(delay, e.retryAfter * 1000); // rate limited
    }
    state.timer = setTimeout(refresh, delay);
  }

  refresh();
  return () => { state.alive = false; clearTimeout(state.timer); clearTimeout(debounce); };
}
