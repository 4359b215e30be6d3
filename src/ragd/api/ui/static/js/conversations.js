// The conversation list beside the chat: your stored conversations (and, on request, those
// others in your tenant shared), newest first. Open one to read it and ask on in it; rename,
// share read-only with your tenant, or delete your own.
import { api } from "./api.js";
import { alertBox, announce, h } from "./dom.js";

export function conversationList({ onOpen, onNew }) {
  const list = h("ul", { class: "conv-list", "aria-label": "Conversations" });
  const shared = h("input", { type: "checkbox", name: "shared", id: "show-shared" });
  const error = h("div", { "aria-live": "assertive" });
  const fresh = h("button", { type: "button", class: "secondary small" }, "New conversation");
  const el = h("aside", { class: "conversations", "aria-labelledby": "conv-title" },
    h("div", { class: "conv-head" }, h("h2", { id: "conv-title" }, "Conversations"), fresh),
    h("p", { class: "hint" }, shared, " ", h("label", { for: "show-shared" }, "Show shared with me")),
    error, list);
  let current = null;
  fresh.addEventListener("click", () => { current = null; mark(); onNew(); });
  shared.addEventListener("change", () => refresh());

  function mark() {
    for (const b of list.querySelectorAll("button.conv-open")) {
      b.setAttribute("aria-current", b.dataset.id === current ? "true" : "false");
    }
  }

  async function act(fn) {
    error.replaceChildren();
    try { await fn(); } catch (e) { error.append(alertBox(e.message)); }
    await refresh();
  }

  function item(c) {
    const open = h("button", { type: "button", class: "conv-open", dataset: { id: c.id } },
      c.title || "Untitled");
    open.addEventListener("click", () => { current = c.id; mark(); onOpen(c.id); });
    const bits = [h("span", { class: "hint small" }, `${c.turns} question${c.turns === 1 ? "" : "s"}`)];
    if (c.shared) bits.push(h("span", { class: "badge" }, c.owned ? "shared" : "shared with you"));
    const actions = [];
    if (c.owned) {
      const name = c.title || "Untitled";
      actions.push(
        h("button", { type: "button", class: "secondary small", "aria-label": `Rename ${name}`, onclick: () => {
          const title = prompt("New title", c.title);
          if (title !== null) act(() => api(`/api/v1/conversations/${c.id}`, { method: "PATCH", json: { title } }));
        } }, "Rename"),
        h("button", { type: "button", class: "secondary small", "aria-label": `${c.shared ? "Stop sharing" : "Share"} ${name}`,
          onclick: () => act(async () => {
            await api(`/api/v1/conversations/${c.id}`, { method: "PATCH", json: { shared: !c.shared } });
            announce(c.shared ? "No longer shared." : "Shared read-only with your tenant.");
          }) }, c.shared ? "Stop sharing" : "Share"),
        h("button", { type: "button", class: "danger small", "aria-label": `Delete ${name}`, onclick: () => {
          if (!confirm(`Delete "${name}" and its answers?`)) return;
          act(async () => {
            await api(`/api/v1/conversations/${c.id}`, { method: "DELETE" });
            if (current === c.id) { current = null; onNew(); }
          });
        } }, "Delete"));
    }
    return h("li", { class: "conv-item" }, open, h("div", { class: "conv-meta" }, bits),
      actions.length ? h("div", { class: "conv-actions" }, actions) : null);
  }

  async function refresh() {
    try {
      const data = await api(`/api/v1/conversations?limit=100&shared=${shared.checked}`);
      list.replaceChildren(...data.conversations.map(item));
      if (!data.conversations.length) list.append(h("li", { class: "hint" }, "None yet: your questions are kept here."));
      mark();
    } catch (e) {
      error.replaceChildren(alertBox(e.message));
    }
  }
  return {
    el,
    refresh,
    select(id) { current = id; mark(); },
  };
}
