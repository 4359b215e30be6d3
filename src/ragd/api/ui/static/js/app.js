// The shell: who is signed in, the navigation (by role), and a hash router over the views.
import { api, credential, setUnauthorizedHandler } from "./api.js";
import { add, alertBox, announce, field, h } from "./dom.js";
import * as chat from "./chat.js";
import * as library from "./library.js";
import * as sources from "./sources.js";
import * as admin from "./admin.js";
import * as analytics from "./analytics.js";
import * as collections from "./collections.js";

const ROLES = ["reader", "editor", "tenant_admin", "platform_admin"];
const ROLE_NAMES = {
  reader: "reader", editor: "editor", tenant_admin: "tenant admin", platform_admin: "platform admin",
};

const ROUTES = {
  "/chat": { title: "Chat", role: "reader", view: chat.view },
  "/library": { title: "Documents", role: "reader", view: library.view },
  "/sources": { title: "Sources", role: "editor", view: sources.view },
  "/admin/tenants": { title: "Tenants", role: "platform_admin", view: admin.tenants },
  "/admin/keys": { title: "API keys", role: "tenant_admin", view: admin.keys },
  "/admin/members": { title: "Members", role: "tenant_admin", view: collections.members },
  "/admin/usage": { title: "Usage", role: "tenant_admin", view: admin.usage },
  "/admin/answers": { title: "Answers", role: "tenant_admin", view: analytics.view },
  "/admin/audit": { title: "Audit log", role: "tenant_admin", view: admin.audit },
};

let me = null;
let cleanup = null;
let signInMessage = "";

const can = (role) => me !== null && ROLES.indexOf(me.role) >= ROLES.indexOf(role);

async function whoAmI() {
  try {
    me = await api("/api/v1/me");
  } catch (error) {
    if (error.status !== 401) throw error;
    me = null;
  }
  return me;
}

function renderHeader(path) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!me) {
    nav.hidden = true;
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  nav.hidden = false;
  const links = Object.entries(ROUTES)
    .filter(([, r]) => can(r.role))
    .map(([p, r]) => h("li", {}, h("a", { href: `#${p}`, "aria-current": p === path ? "page" : null }, r.title)));
  nav.replaceChildren(h("ul", {}, links));
  const signOut = me.method === "none" ? null : h("button", {
    type: "button", class: "secondary small", onclick: signOutNow,
  }, "Sign out");
  who.replaceChildren();
  add(who, [
    h("span", { class: "who-text", "data-testid": "who" },
      h("span", { class: "sr-only" }, "Signed in: "),
      `tenant ${me.tenant_id} · ${ROLE_NAMES[me.role] || me.role}`,
      me.method === "none" ? h("span", { class: "badge warn" }, "auth off") : null),
    signOut,
  ]);
}

function signOutNow() {
  credential.clear();
  me = null;
  signInMessage = "Signed out.";
  render();
}

function signInView(main) {
  const input = h("input", {
    type: "password", name: "credential", autocomplete: "off", spellcheck: "false", required: true,
  });
  const error = h("div", { "aria-live": "assertive" });
  if (signInMessage) error.append(alertBox(signInMessage));
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in"),
    h("p", {}, "Use an API key (it starts with ragd_) or a JWT. It is kept in this browser tab " +
      "only and sent with every request; closing the tab forgets it."),
    field("API key or JWT", input),
    h("div", { class: "actions" }, button),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    button.disabled = true;
    credential.set(input.value.trim());
    try {
      if (await whoAmI()) {
        signInMessage = "";
        announce(`Signed in to tenant ${me.tenant_id}`);
        if (!location.hash || location.hash === "#/") location.hash = "#/chat";
        render(true);
        return;
      }
      credential.clear();
      error.append(alertBox("That key or token was not accepted."));
    } catch (e) {
      credential.clear();
      error.append(alertBox(e.message));
    } finally {
      button.disabled = false;
    }
    input.focus();
  });
  main.replaceChildren(form);
  input.focus();
}

function render(moveFocus = false) {
  if (cleanup) { cleanup(); cleanup = null; }
  const main = document.getElementById("main");
  const path = location.hash.replace(/^#/, "") || "/chat";
  if (!me) {
    renderHeader(path);
    document.title = "Sign in · ragd";
    signInView(main);
    return;
  }
  const route = ROUTES[path];
  if (!route) { location.replace("#/chat"); return; }
  renderHeader(path);
  document.title = `${route.title} · ragd`;
  if (!can(route.role)) {
    main.replaceChildren(h("h1", { tabindex: "-1" }, route.title),
      alertBox(`This page needs the ${ROLE_NAMES[route.role]} role; you are ${ROLE_NAMES[me.role]}.`));
    return;
  }
  main.replaceChildren();
  cleanup = route.view(main, { me, can }) || null;
  if (moveFocus) main.querySelector("h1")?.focus();
}

setUnauthorizedHandler(() => {
  if (!me) return; // sign-in in progress: the form reports it
  credential.clear();
  me = null;
  signInMessage = "Your key or token was refused (revoked or expired?). Sign in again.";
  render();
});

window.addEventListener("hashchange", () => render(true));
// The skip link must not change the hash (the router owns it).
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});

async function start() {
  try {
    await whoAmI();
  } catch (e) {
    document.getElementById("main").replaceChildren(alertBox(`ragd did not answer: ${e.message}`));
    return;
  }
  render();
}

start();
