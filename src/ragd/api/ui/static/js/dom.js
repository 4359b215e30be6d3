// Tiny DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing that
// comes from a document, a user or the API can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
      if (key === "value" && "defaultValue" in el) el.defaultValue = value; // form.reset()
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  add(el, children);
  return el;
}

export function add(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field: <div class="field"><label>…</label><control/><p hint/></div>.
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: uid("hint") }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

// A table from column specs: [{ label, cell: (row) => node|string, class? }].
export function table(caption, columns, rows, empty = "Nothing here yet.") {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label)));
  const body = h("tbody");
  if (!rows.length) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
  }
  for (const row of rows) {
    body.append(h("tr", {}, columns.map((c) => h("td", { class: c.class }, c.cell(row)))));
  }
  return h("div", { class: "table-wrap" },
    h("table", {}, h("caption", { class: "sr-only" }, caption), h("thead", {}, head), body));
}

// "team=docs, year=2024" -> { team: "docs", year: 2024 }: numbers and true/false are typed,
// "quoted" values stay strings. Throws on a part that is not key=value.
export function parsePairs(text) {
  const out = {};
  for (const part of text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`"${part}" is not key=value`);
    const raw = part.slice(eq + 1).trim();
    let value = raw;
    if (/^".*"$/.test(raw)) value = raw.slice(1, -1);
    else if (raw === "true" || raw === "false") value = raw === "true";
    else if (raw !== "" && !Number.isNaN(Number(raw))) value = Number(raw);
    out[part.slice(0, eq).trim()] = value;
  }
  return out;
}

export function announce(message) {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  setTimeout(() => { el.textContent = message; }, 30);
}

export function alertBox(message) {
  return h("p", { class: "alert", role: "alert" }, message);
}

export function fmtDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function fmtUsd(n) {
  return `$${Number(n || 0).toFixed(n && n < 0.01 ? 6 : 2)}`;
}

// Shows a secret (a new API key) once, with a copy button.
export function secretBox(title, secret) {
  const code = h("code", { class: "secret-value", tabindex: "0" }, secret);
  const status = h("span", { class: "hint", role: "status" });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      status.textContent = "Copied.";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      status.textContent = "Selected: press Ctrl+C to copy.";
    }
  });
  const box = h("div", { class: "secret", role: "region", "aria-label": title },
    h("p", {}, h("strong", {}, title), " Copy it now: it is shown only this once."),
    h("p", {}, code), h("p", {}, copy, " ", status));
  return box;
}
