// Admin pages: tenants (platform admins), API keys, usage and cost, the audit log.
// Platform admins may pick another tenant for keys and audit (the API's ?tenant_id=).
import { api } from "./api.js";
import { alertBox, announce, field, fmtDate, fmtUsd, h, secretBox, table } from "./dom.js";

function page(main, title, intro) {
  main.append(h("h1", { tabindex: "-1" }, title));
  if (intro) main.append(h("p", { class: "hint" }, intro));
  const errors = h("div", { "aria-live": "assertive" });
  main.append(errors);
  return {
    errors,
    fail: (e) => errors.replaceChildren(alertBox(e.message)),
    clear: () => errors.replaceChildren(),
  };
}

function withTenant(path, tenant, me) {
  if (!tenant || tenant === me.tenant_id) return path;
  return `${path}${path.includes("?") ? "&" : "?"}tenant_id=${encodeURIComponent(tenant)}`;
}

// A tenant <select> for platform admins (null for everyone else).
async function tenantPicker(me, can, onChange) {
  if (!can("platform_admin")) return null;
  const select = h("select", { name: "tenant" }, h("option", { value: me.tenant_id }, me.tenant_id));
  try {
    for (const t of await api("/admin/tenants")) {
      if (t.id !== me.tenant_id) select.append(h("option", { value: t.id }, t.id));
    }
  } catch { /* the own tenant is still there */ }
  select.addEventListener("change", () => onChange(select.value));
  return field("Tenant", select);
}

// -- tenants ---------------------------------------------------------------------------
export function tenants(main, { me }) {
  const p = page(main, "Tenants", "Every tenant is isolated: its own documents, users, keys and usage.");
  const id = h("input", { name: "id", required: true, pattern: "[a-z0-9][a-z0-9_-]{0,62}", autocomplete: "off" });
  const name = h("input", { name: "name", autocomplete: "off" });
  const adminName = h("input", { name: "admin_name", value: "admin", required: true, autocomplete: "off" });
  const secret = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "new-tenant-h" },
    h("h2", { id: "new-tenant-h" }, "New tenant"),
    h("div", { class: "row" },
      field("Tenant id", id, "Lower-case letters, digits, - and _"),
      field("Display name", name), field("First admin's name", adminName)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create tenant")));
  const list = h("div");
  main.append(form, secret, h("h2", {}, "All tenants"), list);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    p.clear();
    try {
      const body = { id: id.value.trim(), admin_name: adminName.value.trim() || "admin" };
      if (name.value.trim()) body.name = name.value.trim();
      const created = await api("/admin/tenants", { method: "POST", json: body });
      secret.replaceChildren(secretBox(`API key of ${created.admin.name}, admin of ${created.tenant.id}.`, created.key.key));
      announce(`Tenant ${created.tenant.id} created`);
      form.reset();
      load();
    } catch (err) { p.fail(err); }
  });

  async function setStatus(t, action) {
    p.clear();
    try {
      await api(`/admin/tenants/${encodeURIComponent(t.id)}/${action}`, { method: "POST" });
      announce(`Tenant ${t.id} ${action}d`);
      load();
    } catch (err) { p.fail(err); }
  }

  const limits = (l) => {
    const parts = [];
    if (l.rate_limit_rpm != null) parts.push(`${l.rate_limit_rpm}/min`);
    if (l.max_documents != null) parts.push(`${l.max_documents} docs`);
    if (l.max_bytes != null) parts.push(`${l.max_bytes} bytes`);
    if (l.max_llm_tokens_month != null) parts.push(`${l.max_llm_tokens_month} tokens/month`);
    return parts.join(", ") || "defaults";
  };

  async function load() {
    try {
      const rows = await api("/admin/tenants");
      list.replaceChildren(table("Tenants", [
        { label: "Id", cell: (t) => h("code", {}, t.id) },
        { label: "Name", cell: (t) => t.name },
        { label: "Status", cell: (t) => h("span", { class: `badge ${t.status === "active" ? "good" : "bad"}` }, t.status) },
        { label: "Created", cell: (t) => fmtDate(t.created_at) },
        { label: "Limits", cell: (t) => limits(t.limits) },
        {
          label: h("span", { class: "sr-only" }, "Actions"),
          cell: (t) => t.id === me.tenant_id ? null : t.status === "active"
            ? h("button", { type: "button", class: "danger small", "aria-label": `Disable ${t.id}`, onclick: () => setStatus(t, "disable") }, "Disable")
            : h("button", { type: "button", class: "secondary small", "aria-label": `Enable ${t.id}`, onclick: () => setStatus(t, "enable") }, "Enable"),
        },
      ], rows, "No tenants yet."));
    } catch (err) { p.fail(err); }
  }
  load();
}

// -- keys --------------------------------------------------------------------------------
export function keys(main, { me, can }) {
  const p = page(main, "API keys", "Keys are stored only as hashes: a new key is shown once. Revoking takes effect at once.");
  let tenant = me.tenant_id;
  const picker = h("div");
  const user = h("select", { name: "user_id" });
  const name = h("input", { name: "name", value: "api key", required: true, autocomplete: "off" });
  const days = h("input", { name: "expires_in_days", type: "number", min: "1", max: "3650", inputmode: "numeric" });
  const role = h("select", { name: "role" },
    h("option", { value: "" }, "the user's role"),
    ...["reader", "editor", "tenant_admin"].map((r) => h("option", { value: r }, r)));
  const secret = h("div");
  const form = h("form", { class: "card", "aria-labelledby": "new-key-h" },
    h("h2", { id: "new-key-h" }, "New key"),
    h("div", { class: "row" }, field("Name", name), field("For user", user),
      field("Expires in (days)", days, "Empty: never"),
      field("Limited to", role, "At most the user's role")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")));
  const list = h("div");
  main.append(picker, form, secret, h("h2", {}, "Keys"), list);
  tenantPicker(me, can, (t) => { tenant = t; secret.replaceChildren(); load(); })
    .then((el) => el && picker.append(el));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    p.clear();
    const body = { name: name.value.trim() || "api key" };
    if (user.value) body.user_id = user.value;
    if (days.value) body.expires_in_days = Number(days.value);
    if (role.value) body.role = role.value;
    try {
      const issued = await api(withTenant("/admin/keys", tenant, me), { method: "POST", json: body });
      secret.replaceChildren(secretBox(`New key “${issued.name}” (${issued.prefix}…).`, issued.key));
      announce("Key created");
      load();
    } catch (err) { p.fail(err); }
  });

  async function revoke(k) {
    if (!confirm(`Revoke the key “${k.name}” (${k.prefix}…)? Anything using it stops working at once.`)) return;
    p.clear();
    try {
      await api(withTenant(`/admin/keys/${encodeURIComponent(k.id)}`, tenant, me), { method: "DELETE" });
      announce(`Key ${k.prefix} revoked`);
      load();
    } catch (err) { p.fail(err); }
  }

  const state = (k) => {
    if (k.revoked_at) return h("span", { class: "badge bad" }, "revoked");
    if (k.expires_at && new Date(k.expires_at) < new Date()) return h("span", { class: "badge bad" }, "expired");
    return h("span", { class: "badge good" }, "active");
  };

  async function load() {
    try {
      const [users, rows] = await Promise.all([
        api(withTenant("/admin/users", tenant, me)),
        api(withTenant("/admin/keys", tenant, me)),
      ]);
      const names = new Map(users.map((u) => [u.id, u.name]));
      user.replaceChildren(...users.filter((u) => u.status === "active").map((u) =>
        h("option", { value: u.id, selected: u.id === me.user_id }, `${u.name} (${u.role})`)));
      list.replaceChildren(table("API keys", [
        { label: "Name", cell: (k) => k.name },
        { label: "Prefix", cell: (k) => h("code", {}, k.prefix) },
        { label: "User", cell: (k) => names.get(k.user_id) || k.user_id },
        { label: "Role", cell: (k) => k.role || "user's" },
        { label: "Created", cell: (k) => fmtDate(k.created_at) },
        { label: "Expires", cell: (k) => (k.expires_at ? fmtDate(k.expires_at) : "never") },
        { label: "Last used", cell: (k) => fmtDate(k.last_used_at) },
        { label: "State", cell: state },
        {
          label: h("span", { class: "sr-only" }, "Actions"),
          cell: (k) => (k.revoked_at ? null : h("button", {
            type: "button", class: "danger small", "aria-label": `Revoke ${k.name} (${k.prefix})`, onclick: () => revoke(k),
          }, "Revoke")),
        },
      ], rows, "No keys."));
    } catch (err) { p.fail(err); }
  }
  load();
}

// -- usage -------------------------------------------------------------------------------
function modelTable(caption, rows) {
  return table(caption, [
    { label: "Model", cell: (r) => r.model },
    { label: "Requests", class: "num", cell: (r) => String(r.requests) },
    { label: "Prompt tokens", class: "num", cell: (r) => String(r.prompt_tokens) },
    { label: "Completion tokens", class: "num", cell: (r) => String(r.completion_tokens) },
    { label: "Cost", class: "num", cell: (r) => fmtUsd(r.cost_usd) },
  ], rows, "No LLM usage this month.");
}

export function usage(main, { me, can }) {
  const p = page(main, "Usage", "LLM tokens and their cost since the start of this month (prices from RAGD_LLM_PRICES).");
  const body = h("div");
  main.append(body);
  (async () => {
    try {
      if (can("platform_admin")) {
        const all = await api("/admin/usage");
        body.append(
          h("p", { class: "totals" }, `All tenants: ${all.total_tokens} tokens, ${fmtUsd(all.cost_usd)}`),
          table("Usage per tenant", [
            { label: "Tenant", cell: (t) => h("code", {}, t.tenant_id) },
            { label: "Requests", class: "num", cell: (t) => String(t.requests) },
            { label: "Tokens", class: "num", cell: (t) => String(t.total_tokens) },
            { label: "Cost", class: "num", cell: (t) => fmtUsd(t.cost_usd) },
            { label: "By model", cell: (t) => t.models.map((m) => `${m.model}: ${m.prompt_tokens + m.completion_tokens} tokens`).join("; ") || "—" },
          ], all.tenants, "No tenants."));
      } else {
        const mine = await api("/api/v1/usage?scope=tenant");
        body.append(
          h("p", { class: "totals" }, `Tenant ${mine.tenant_id}: ${mine.total_tokens} tokens, ${fmtUsd(mine.cost_usd)}`),
          modelTable("Usage per model", mine.models));
      }
    } catch (err) { p.fail(err); }
  })();
}

// -- audit -------------------------------------------------------------------------------
export function audit(main, { me, can }) {
  const p = page(main, "Audit log", "Every write, admin action and failed sign-in, newest first.");
  const LIMIT = 50;
  let tenant = me.tenant_id;
  let offset = 0;
  const picker = h("div");
  const action = h("input", { name: "action", placeholder: "e.g. document.create", autocomplete: "off" });
  const form = h("form", { class: "row filters", role: "search" }, picker, field("Action", action),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Filter")));
  const list = h("div");
  const prev = h("button", { type: "button", class: "secondary small" }, "Newer");
  const next = h("button", { type: "button", class: "secondary small" }, "Older");
  main.append(form, list, h("div", { class: "pager" }, prev, next));
  tenantPicker(me, can, (t) => { tenant = t; offset = 0; load(); }).then((el) => el && picker.append(el));
  form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
  prev.addEventListener("click", () => { offset = Math.max(0, offset - LIMIT); load(); });
  next.addEventListener("click", () => { offset += LIMIT; load(); });

  async function load() {
    p.clear();
    const params = new URLSearchParams({ limit: String(LIMIT), offset: String(offset) });
    if (action.value.trim()) params.set("action", action.value.trim());
    try {
      const [data, users] = await Promise.all([
        api(withTenant(`/admin/audit?${params}`, tenant, me)),
        api(withTenant("/admin/users", tenant, me)).catch(() => []),
      ]);
      const names = new Map(users.map((u) => [u.id, u.name]));
      list.replaceChildren(table("Audit log entries", [
        { label: "When", cell: (e) => fmtDate(e.created_at) },
        { label: "User", cell: (e) => (e.user_id ? names.get(e.user_id) || e.user_id : "—") },
        { label: "Action", cell: (e) => h("code", {}, e.action) },
        { label: "Resource", cell: (e) => e.resource || "—" },
        { label: "Outcome", cell: (e) => h("span", { class: `badge ${e.outcome === "success" ? "good" : "bad"}` }, e.outcome) },
        { label: "Client", cell: (e) => e.client_ip || "—" },
        { label: "Request", cell: (e) => (e.request_id ? h("code", { class: "small" }, e.request_id.slice(0, 12)) : "—") },
      ], data.entries, "No entries."));
      prev.disabled = offset === 0;
      next.disabled = data.entries.length < LIMIT;
    } catch (err) { p.fail(err); }
  }
  load();
}
