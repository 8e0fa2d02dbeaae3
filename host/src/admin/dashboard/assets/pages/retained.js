// Retained messages: listed a page at a time by topic filter; one
// message's payload, as text when it is UTF-8, else base64; removal.

import { del, get, query, seg } from "../api.js";
import { bytes, confirmButton, field, fill, h, number, table, toast, when } from "../dom.js";

const LIMIT = 50;

export function mount(container, args) {
  return args.length ? details(container, args.join("/")) : list(container);
}

function list(container) {
  const filter = h("input", { id: "retained-topic", type: "search", placeholder: "topic filter, e.g. sensors/#", autocapitalize: "none", spellcheck: "false" });
  const body = h("div", { id: "retained-list" });
  const pager = h("div", { class: "pager" });
  container.append(
    h("h1", {}, "Retained messages"),
    h("form", { class: "filters", on: { submit: (e) => { e.preventDefault(); page = 1; load(); } } },
      field("Topic", filter), h("button", { type: "submit" }, "Search")),
    body, pager);
  let page = 1;
  let gone = false;

  async function load() {
    try {
      const answer = await get(`/api/v1/retained${query({ page, limit: LIMIT, topic: filter.value.trim() })}`);
      if (gone) return;
      const data = (answer && answer.data) || [];
      const count = (answer && answer.meta && answer.meta.count) ?? data.length;
      fill(body, data.length
        ? table(["topic", "QoS", "size", "from", "published", ""], data.map((m) => h("tr", {},
          h("td", { class: "topic" }, h("a", { href: `#/retained/${seg(m.topic)}` }, m.topic)),
          h("td", {}, String(m.qos)),
          h("td", { class: "num" }, bytes(m.payload_size)),
          h("td", {}, m.from_clientid ?? ""),
          h("td", {}, when(m.published_at)),
          h("td", {}, confirmButton("Delete", "Delete?", () => remove(m.topic).then(load), { class: "danger small" })))))
        : h("p", { class: "muted" }, "No retained message matches."));
      fill(pager,
        h("button", { type: "button", disabled: page <= 1, on: { click: () => { page -= 1; load(); } } }, "‹ Previous"),
        h("span", {}, `${number(count)} in all`),
        h("button", { type: "button", disabled: page * LIMIT >= count, on: { click: () => { page += 1; load(); } } }, "Next ›"));
    } catch (e) {
      if (!gone) fill(body, h("p", { class: "error" }, e.status === 404 ? "This broker does not list retained messages." : e.message));
    }
  }

  load();
  return () => { gone = true; };
}

async function remove(topic) {
  try {
    await del(`/api/v1/retained/${seg(topic)}`);
    toast(`Deleted the retained message of ${topic}`);
    return true;
  } catch (e) {
    toast(`Delete failed: ${e.message}`, "error");
    return false;
  }
}

function details(container, topic) {
  const body = h("div", {});
  container.append(
    h("p", {}, h("a", { href: "#/retained" }, "‹ Retained messages")),
    h("h1", {}, h("span", { class: "topic" }, topic)),
    body);
  get(`/api/v1/retained/${seg(topic)}`).then((m) => {
    const text = typeof m.payload_utf8 === "string";
    fill(body,
      h("dl", { class: "facts" },
        h("dt", {}, "QoS"), h("dd", {}, String(m.qos)),
        h("dt", {}, "Size"), h("dd", {}, bytes(m.payload_size)),
        h("dt", {}, "From"), h("dd", {}, m.from_clientid ?? "–"),
        h("dt", {}, "Published"), h("dd", {}, when(m.published_at))),
      h("h2", {}, text ? "Payload" : "Payload (base64)"),
      h("pre", { class: "payload" }, text ? m.payload_utf8 : (m.payload ?? "")),
      h("div", { class: "actions" }, confirmButton("Delete", "Delete? Press again", async () => {
        if (await remove(topic)) location.hash = "#/retained";
      })));
  }, (e) => fill(body, h("p", { class: "error" }, e.status === 404 ? "No retained message on this topic." : e.message)));
  return null;
}
