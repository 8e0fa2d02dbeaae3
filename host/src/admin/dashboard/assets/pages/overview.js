// The overview: who the broker is, its clients now, and charts of
// connections and message rates over the last five minutes, drawn from
// the sampler's figures as they come.

import { get } from "../api.js";
import { LineChart } from "../chart.js";
import { fill, h, number, seconds, table } from "../dom.js";
import * as sampler from "../sampler.js";

// Status fields shown as cards; the others are what limits refused.
const CARDS = [
  ["clients_connected", "Clients connected"],
  ["sessions", "Sessions"],
  ["uptime", "Uptime"],
  ["version", "Version"],
  ["node", "Node"],
];

export function mount(container) {
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const connections = new LineChart("Connections", [
    { key: "connections", label: "connected", color: "c1" },
    { key: "sessions", label: "sessions", color: "c2" },
  ]);
  const rates = new LineChart("Messages per second", [
    { key: "received", label: "in", color: "c1" },
    { key: "delivered", label: "out", color: "c2" },
    { key: "dropped", label: "dropped", color: "c3" },
  ], { unit: "/s" });
  const ratesNote = h("p", { class: "muted", hidden: true },
    "This broker publishes no message counters at /metrics: rates cannot be drawn.");
  const refusals = h("div", { id: "overview-refusals" });
  const listeners = h("div", { id: "overview-listeners" });
  container.append(
    h("h1", {}, "Overview"),
    cards,
    h("div", { class: "charts" }, connections.element, h("div", {}, rates.element, ratesNote)),
    h("h2", {}, "Listeners"), listeners,
    h("h2", {}, "Refused by limits"), refusals);

  const unwatch = sampler.watch((samples) => {
    const status = sampler.lastStatus;
    if (sampler.lastError) {
      fill(cards, h("p", { class: "error" }, `The broker does not answer: ${sampler.lastError.message}`));
    } else if (status) {
      showStatus(cards, refusals, status);
    }
    connections.update(samples);
    rates.update(samples);
    ratesNote.hidden = sampler.hasRates();
  });

  // Listeners change rarely: read once per visit.
  get("/api/v1/listeners").then((list) => showListeners(listeners, list), () => {
    fill(listeners, h("p", { class: "muted" }, "No listener figures from this broker."));
  });

  return () => {
    unwatch();
    connections.destroy();
    rates.destroy();
  };
}

function showStatus(cards, refusals, status) {
  fill(cards, CARDS.filter(([key]) => key in status).map(([key, label]) =>
    h("div", { class: typeof status[key] === "number" ? "card figure" : "card figure text", dataset: { field: key } },
      h("span", { class: "label" }, label),
      h("span", { class: "value" }, key === "uptime" ? seconds(status[key]) : number(status[key])))));
  const known = new Set(CARDS.map(([key]) => key));
  const rows = Object.entries(status)
    .filter(([key, value]) => !known.has(key) && typeof value === "number")
    .map(([key, value]) => h("tr", { class: value ? "warn" : "" },
      h("td", {}, key.replaceAll("_", " ")), h("td", { class: "num" }, number(value))));
  fill(refusals, rows.length ? table(["limit", "refused"], rows) : h("p", { class: "muted" }, "None."));
}

function showListeners(container, list) {
  const data = Array.isArray(list) ? list : (list && list.data) || [];
  if (!data.length) {
    fill(container, h("p", { class: "muted" }, "None."));
    return;
  }
  fill(container, table(["id", "bound to", "connections", "accepted", "refused"],
    data.map((l) => h("tr", {},
      h("td", {}, l.id || `${l.type}:${l.name}`),
      h("td", {}, l.bind || ""),
      h("td", { class: "num" }, `${number(l.current_connections)}${l.max_connections ? ` / ${number(l.max_connections)}` : ""}`),
      h("td", { class: "num" }, number(l.accepted)),
      h("td", { class: "num" }, number((l.refused_over_limit || 0) + (l.refused_over_rate || 0)))))));
}
