// The dashboard's entry: who is logged in, the navigation, and which
// page shows. Pages are modules with `mount(container, args)`, which
// returns what to call when the page is left. Routes live in the URL's
// fragment (`#/clients/ID`), so the broker serves one page.

import { get } from "./api.js";
import { fill, h } from "./dom.js";
import * as sampler from "./sampler.js";
import * as login from "./pages/login.js";
import * as overview from "./pages/overview.js";
import * as clients from "./pages/clients.js";
import * as subscriptions from "./pages/subscriptions.js";
import * as retained from "./pages/retained.js";
import * as plugins from "./pages/plugins.js";
import * as mqtt from "./pages/mqtt.js";

const PAGES = { overview, clients, subscriptions, retained, plugins, mqtt };

const main = document.getElementById("main");
const header = document.getElementById("top");
let leave = null;
let loggedIn = false;

// The route of the URL: the page's name and its arguments, decoded.
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const name = parts.shift() || "overview";
  const args = parts.map((p) => {
    try { return decodeURIComponent(p); } catch (e) { return p; }
  });
  return { name: PAGES[name] ? name : "overview", args };
}

function show() {
  if (leave) { leave(); leave = null; }
  if (!loggedIn) {
    header.hidden = true;
    leave = login.mount(fill(main), { onLogin: enter });
    return;
  }
  header.hidden = false;
  const { name, args } = route();
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("current", link.dataset.page === name);
  }
  document.title = `mqhost · ${name}`;
  const page = h("section", { class: "page", id: `page-${name}` });
  fill(main, page);
  leave = PAGES[name].mount(page, args) || null;
}

// Logged in (now, or still from before): the app, the figures, and the
// MQTT page if the broker has a WebSocket listener.
function enter(username) {
  loggedIn = true;
  if (username) sessionStorage.setItem("mqhost-user", username);
  document.getElementById("who").textContent = sessionStorage.getItem("mqhost-user") || "";
  sampler.start();
  mqtt.available().then((yes) => { document.getElementById("nav-mqtt").hidden = !yes; });
  show();
}

function leaveApp() {
  if (!loggedIn) return;
  loggedIn = false;
  sessionStorage.removeItem("mqhost-user");
  sampler.stop();
  show();
}

window.addEventListener("hashchange", show);
window.addEventListener("mqhost:logged-out", leaveApp);
document.getElementById("logout").addEventListener("click", async () => {
  try {
    await fetch("/api/v1/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
      credentials: "same-origin",
    });
  } finally {
    leaveApp();
  }
});

// A session from before (a reload, another tab) is still good if the
// status answers.
get("/api/v1/status").then(() => enter(null), () => { loggedIn = false; show(); });
