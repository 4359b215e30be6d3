// Collections in the UI: a picker (chat, library) filled from GET /api/v1/collections (only
// those the caller may read), and the Members page where tenant admins manage groups and
// who may read, write or manage each collection.
import { api } from "./api.js";
import { alertBox, announce, field, h } from "./dom.js";

// A <select> of the caller's collections. `anyLabel` adds a first option for "no collection
// named" (chat and the library list: every readable collection; upload: the default).
export function collectionPicker(name, anyLabel) {
  const select = h("select", { name, "data-testid": `${name}-picker` },
    h("option", { value: "" }, anyLabel));
  api("/api/v1/collections").then((found) => {
    for (const c of found) select.append(h("option", { value: c.id }, `${c.name} (${c.id})`));
  }).catch(() => { /* an older server: no collections, the picker stays at its default */ });
  return select;
}

export function members(main) {
  const state = { alive: true };
  const error = h("div", { "aria-live": "assertive" });
  const groupsBox = h("div", { "data-testid": "groups" });
  const grantsBox = h("div", { "data-testid": "grants" });
  main.append(h("h1", { tabindex: "-1" }, "Members"),
    h("p", { class: "hint" }, "Groups of users, and who may read, write or manage each collection. " +
      "Principals: a user (u:<user id>), a group (g:<group id>) or everyone in the tenant (*)."),
    error, groupForm(), h("section", { "aria-labelledby": "groups-h" },
      h("h2", { id: "groups-h" }, "Groups"), groupsBox),
    grantForm(), h("section", { "aria-labelledby": "grants-h" },
      h("h2", { id: "grants-h" }, "Grants"), grantsBox));

  function fail(e) { error.replaceChildren(alertBox(e.message)); }

  function groupForm() {
    const id = h("input", { name: "group_id", required: true, autocomplete: "off", placeholder: "legal" });
    const name = h("input", { name: "group_name", required: true, autocomplete: "off", placeholder: "Legal team" });
    const form = h("form", { class: "card", "aria-labelledby": "add-group-h" },
      h("h2", { id: "add-group-h" }, "Add a group"),
      h("div", { class: "row" }, field("Group id", id), field("Group name", name)),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Add group")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.replaceChildren();
      try {
        await api("/api/v1/groups", { method: "POST", json: { id: id.value.trim(), name: name.value.trim() } });
        announce(`Added group ${id.value.trim()}`);
        form.reset();
        refresh();
      } catch (e) { fail(e); }
    });
    return form;
  }

  function grantForm() {
    const collection = collectionPicker("grant_collection", "choose…");
    const principal = h("input", { name: "principal", required: true, autocomplete: "off", placeholder: "g:legal" });
    const level = h("select", { name: "level" },
      ["read", "write", "manage", ""].map((l) => h("option", { value: l }, l || "none (revoke)")));
    const form = h("form", { class: "card", "aria-labelledby": "add-grant-h" },
      h("h2", { id: "add-grant-h" }, "Grant"),
      h("div", { class: "row" }, field("Collection", collection), field("Principal", principal),
        field("Level", level)),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save grant")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.replaceChildren();
      if (!collection.value) { fail(new Error("Choose a collection.")); return; }
      try {
        await api(`/api/v1/collections/${encodeURIComponent(collection.value)}/grants`, {
          method: "PUT", json: { principal: principal.value.trim(), level: level.value || null },
        });
        announce("Grant saved");
        refresh();
      } catch (e) { fail(e); }
    });
    return form;
  }

  async function refresh() {
    try {
      const [groups, users, collections] = await Promise.all([
        // No users to pick in the local mode (auth off: no tenant accounts).
        api("/api/v1/groups"), api("/admin/users").catch(() => []), api("/api/v1/collections"),
      ]);
      if (!state.alive) return;
      groupsBox.replaceChildren(...(groups.length ? groups.map((g) => groupCard(g, users)) : [h("p", { class: "hint" }, "No groups yet.")]));
      const rows = [];
      for (const c of collections) {
        const grants = await api(`/api/v1/collections/${encodeURIComponent(c.id)}/grants`);
        for (const g of grants) rows.push(h("tr", {}, h("td", {}, c.id), h("td", {}, g.principal), h("td", {}, g.level)));
      }
      if (!state.alive) return;
      grantsBox.replaceChildren(h("div", { class: "table-wrap" }, h("table", {},
        h("caption", { class: "sr-only" }, "Grants per collection"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Collection"), h("th", { scope: "col" }, "Principal"),
          h("th", { scope: "col" }, "Level"))), h("tbody", {}, rows))));
    } catch (e) { fail(e); }
  }

  function groupCard(group, users) {
    const pick = h("select", { name: `member-${group.id}`, "aria-label": `User to add to ${group.id}` },
      users.filter((u) => !group.members.includes(u.id)).map((u) => h("option", { value: u.id }, `${u.name} (${u.role})`)));
    const add = h("button", { type: "button", class: "small" }, `Add to ${group.id}`);
    add.addEventListener("click", async () => {
      if (!pick.value) return;
      try {
        await api(`/api/v1/groups/${encodeURIComponent(group.id)}/members/${encodeURIComponent(pick.value)}`, { method: "PUT" });
        announce("Member added");
        refresh();
      } catch (e) { fail(e); }
    });
    const names = new Map(users.map((u) => [u.id, u.name]));
    const list = h("ul", {}, group.members.map((m) => {
      const remove = h("button", { type: "button", class: "secondary small" }, `Remove ${names.get(m) || m}`);
      remove.addEventListener("click", async () => {
        try {
          await api(`/api/v1/groups/${encodeURIComponent(group.id)}/members/${encodeURIComponent(m)}`, { method: "DELETE" });
          refresh();
        } catch (e) { fail(e); }
      });
      return h("li", {}, `${names.get(m) || m} `, remove);
    }));
    return h("article", { class: "card", "data-group": group.id },
      h("h3", {}, `${group.name} (g:${group.id})`), list, h("div", { class: "row" }, pick, add));
  }

  refresh();
  return () => { state.alive = false; };
}
