// Clients: the connected ones, searched by client id, user name or
// address, a page at a time and read again every few seconds; one
// client's details and subscriptions; kicking one.

import { del, get, post, query, seg } from "../api.js";
import { confirmButton, field, fill, h, number, table, toast, when } from "../dom.js";

const LIMIT = 50;
const REFRESH_MS = 3000;

export const protocol = (v) => ({ 3: "3.1", 4: "3.1.1", 5: "5.0" }[v] || (v === undefined ? "" : String(v)));

export function mount(container, args) {
  return args.length ? details(container, args[0]) : list(container);
}

function list(container) {
  const inputs = {
    clientid: h("input", { id: "search-clientid", type: "search", placeholder: "part of it", autocapitalize: "none", spellcheck: "false" }),
    username: h("input", { id: "search-username", type: "search", placeholder: "part of it", autocapitalize: "none", spellcheck: "false" }),
    ip_address: h("input", { id: "search-ip", type: "search", placeholder: "prefix", inputmode: "decimal" }),
  };
  const body = h("div", { id: "clients-list" });
  const pager = h("div", { class: "pager" });
  container.append(
    h("h1", {}, "Clients"),
    h("form", { class: "filters", on: { submit: (e) => e.preventDefault() } },
      field("Client id", inputs.clientid), field("User", inputs.username), field("Address", inputs.ip_address)),
    body, pager);

  let page = 1;
  let timer = null;
  let generation = 0;
  let gone = false;

  async function load() {
    clearTimeout(timer);
    // A kick waiting for its second press is not redrawn away.
    if (body.querySelector(".armed")) {
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    const mine = ++generation;
    const params = { page, limit: LIMIT };
    for (const [key, input] of Object.entries(inputs)) params[key] = input.value.trim();
    try {
      const answer = await get(`/api/v1/clients${query(params)}`);
      if (mine !== generation || gone) return;
      render(answer);
    } catch (e) {
      if (mine !== generation || gone) return;
      fill(body, h("p", { class: "error" }, e.status === 404 ? "This broker does not list clients." : e.message));
    }
    if (!gone) timer = setTimeout(load, REFRESH_MS);
  }

  function render(answer) {
    const data = (answer && answer.data) || [];
    const meta = (answer && answer.meta) || {};
    if (!data.length) {
      fill(body, h("p", { class: "muted", id: "clients-empty" }, "No client connected matches."));
    } else {
      fill(body, table(["client id", "user", "address", "listener", "MQTT", "connected", "subs", ""],
        data.map((c) => h("tr", { dataset: { clientid: c.clientid } },
          h("td", {}, h("a", { href: `#/clients/${seg(c.clientid)}`, class: "clientid" }, c.clientid)),
          h("td", {}, c.username ?? ""),
          h("td", {}, c.ip_address ? `${c.ip_address}:${c.port}` : ""),
          h("td", {}, c.listener ?? ""),
          h("td", {}, protocol(c.proto_ver)),
          h("td", {}, when(c.connected_at)),
          h("td", { class: "num" }, number(c.subscriptions_cnt)),
          h("td", {}, confirmButton("Kick", "Kick?", () => kick(c.clientid).then(load), { class: "danger small kick" })))),
        { id: "clients-table" }));
    }
    const count = meta.count ?? data.length;
    const first = count ? (page - 1) * LIMIT + 1 : 0;
    fill(pager,
      h("button", { type: "button", disabled: page <= 1, on: { click: () => { page -= 1; load(); } } }, "‹ Previous"),
      h("span", {}, `${first}–${(page - 1) * LIMIT + data.length} of ${number(count)}`),
      h("button", { type: "button", disabled: page * LIMIT >= count, on: { click: () => { page += 1; load(); } } }, "Next ›"));
  }

  let debounce = null;
  for (const input of Object.values(inputs)) {
    input.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { page = 1; load(); }, 250);
    });
  }
  load();
  return () => { gone = true; clearTimeout(timer); clearTimeout(debounce); };
}

async function kick(clientid) {
  try {
    await del(`/api/v1/clients/${seg(clientid)}`);
    toast(`Kicked ${clientid}`);
  } catch (e) {
    toast(e.status === 404 ? `${clientid} is not connected` : `Kick failed: ${e.message}`, "error");
  }
}

const FIELDS = [
  ["clientid", "Client id"], ["username", "User"], ["connected", "Connected"],
  ["ip_address", "Address"], ["port", "Port"], ["listener", "Listener"],
  ["proto_ver", "MQTT"], ["connected_at", "Connected at"], ["disconnected_at", "Disconnected at"],
  ["keepalive", "Keep alive (s)"], ["clean_start", "Clean start"], ["expiry_interval", "Session expiry (s)"],
  ["subscriptions_cnt", "Subscriptions"], ["inflight_cnt", "In flight"], ["mqueue_len", "Queued"],
  ["mqueue_dropped", "Queue drops"],
];

function details(container, clientid) {
  const facts = h("dl", { class: "facts", id: "client-facts" });
  const subs = h("div", { id: "client-subscriptions" });
  const topic = h("input", { id: "subscribe-topic", placeholder: "topic/filter/#", required: true, autocapitalize: "none", spellcheck: "false" });
  const qos = h("select", { id: "subscribe-qos" }, [0, 1, 2].map((q) => h("option", { value: String(q) }, `QoS ${q}`)));
  const kickButton = confirmButton("Kick", "Kick? Press again", async () => { await kick(clientid); await refresh(); }, { id: "client-kick" });
  container.append(
    h("p", {}, h("a", { href: "#/clients" }, "‹ Clients")),
    h("h1", {}, h("span", { class: "clientid" }, clientid)),
    h("div", { class: "actions" }, kickButton),
    facts,
    h("h2", {}, "Subscriptions"), subs,
    h("form", { class: "inline", on: { submit: subscribe } }, field("Subscribe to", topic), field("QoS", qos),
      h("button", { type: "submit" }, "Subscribe")));
  let gone = false;

  async function refresh() {
    try {
      const client = await get(`/api/v1/clients/${seg(clientid)}`);
      if (gone) return;
      fill(facts, FIELDS.filter(([key]) => key in client).map(([key, label]) => [
        h("dt", {}, label),
        h("dd", { dataset: { field: key } }, format(key, client[key])),
      ]));
      kickButton.hidden = client.connected === false;
    } catch (e) {
      if (gone) return;
      fill(facts, h("p", { class: "error" }, e.status === 404 ? "No such client: it is gone." : e.message));
      kickButton.hidden = true;
    }
    try {
      const list = await get(`/api/v1/clients/${seg(clientid)}/subscriptions`);
      if (gone) return;
      const data = Array.isArray(list) ? list : (list && list.data) || [];
      fill(subs, data.length
        ? table(["topic", "QoS", ""], data.map((s) => h("tr", {},
          h("td", { class: "topic" }, s.topic), h("td", {}, String(s.qos)),
          h("td", {}, h("button", { type: "button", class: "small", on: { click: () => unsubscribe(s.topic) } }, "Unsubscribe")))))
        : h("p", { class: "muted" }, "None."));
    } catch (e) {
      if (!gone) fill(subs, h("p", { class: "muted" }, e.status === 404 ? "None." : e.message));
    }
  }

  async function subscribe(event) {
    event.preventDefault();
    try {
      await post(`/api/v1/clients/${seg(clientid)}/subscribe`, { topic: topic.value, qos: Number(qos.value) });
      toast(`Subscribed ${clientid} to ${topic.value}`);
      topic.value = "";
    } catch (e) {
      toast(`Subscribe failed: ${e.message}`, "error");
    }
    refresh();
  }

  async function unsubscribe(filter) {
    try {
      await post(`/api/v1/clients/${seg(clientid)}/unsubscribe`, { topic: filter });
      toast(`Unsubscribed ${clientid} from ${filter}`);
    } catch (e) {
      toast(`Unsubscribe failed: ${e.message}`, "error");
    }
    refresh();
  }

  refresh();
  return () => { gone = true; };
}

function format(key, value) {
  if (value === null || value === undefined) return "–";
  if (key === "proto_ver") return protocol(value);
  if (key.endsWith("_at")) return when(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  return typeof value === "number" ? number(value) : String(value);
}
