// Subscriptions, client by client: the API keeps them with each client's
// session, so this page reads the connected clients that have any (the
// first CLIENTS of them that match the client filter) and asks each for
// its list, a few at a time. A topic filter narrows what is shown.

import { get, query, seg } from "../api.js";
import { field, fill, h, table } from "../dom.js";

const CLIENTS = 100;
const AT_ONCE = 4;

export function mount(container) {
  const clientFilter = h("input", { id: "subs-clientid", type: "search", placeholder: "part of it", autocapitalize: "none", spellcheck: "false" });
  const topicFilter = h("input", { id: "subs-topic", type: "search", placeholder: "part of it", autocapitalize: "none", spellcheck: "false" });
  const body = h("div", { id: "subscriptions-list" });
  const note = h("p", { class: "muted" });
  container.append(
    h("h1", {}, "Subscriptions"),
    h("form", { class: "filters", on: { submit: (e) => { e.preventDefault(); load(); } } },
      field("Client id", clientFilter), field("Topic", topicFilter),
      h("button", { type: "submit" }, "Refresh")),
    body, note);

  let rows = [];
  let generation = 0;
  let gone = false;

  async function load() {
    const mine = ++generation;
    fill(body, h("p", { class: "muted" }, "Reading…"));
    let clients;
    try {
      const answer = await get(`/api/v1/clients${query({ page: 1, limit: CLIENTS, clientid: clientFilter.value.trim() })}`);
      clients = ((answer && answer.data) || []).filter((c) => c.subscriptions_cnt !== 0);
      const count = answer && answer.meta && answer.meta.count;
      note.textContent = count > CLIENTS ? `Showing the subscriptions of the first ${CLIENTS} of ${count} clients: narrow by client id to see others.` : "";
    } catch (e) {
      if (mine === generation && !gone) fill(body, h("p", { class: "error" }, e.message));
      return;
    }
    const found = [];
    const queue = clients.slice();
    async function worker() {
      while (queue.length) {
        const client = queue.shift();
        try {
          const list = await get(`/api/v1/clients/${seg(client.clientid)}/subscriptions`);
          const data = Array.isArray(list) ? list : (list && list.data) || [];
          for (const s of data) found.push({ clientid: client.clientid, ...s });
        } catch (e) {
          // Gone meanwhile: nothing to show for it.
        }
      }
    }
    await Promise.all(Array.from({ length: AT_ONCE }, worker));
    if (mine !== generation || gone) return;
    rows = found.sort((a, b) => a.topic.localeCompare(b.topic) || a.clientid.localeCompare(b.clientid));
    render();
  }

  function render() {
    const part = topicFilter.value.trim();
    const shown = rows.filter((s) => !part || s.topic.includes(part));
    fill(body, shown.length
      ? table(["topic", "QoS", "client id"], shown.map((s) => h("tr", {},
        h("td", { class: "topic" }, s.topic),
        h("td", {}, String(s.qos)),
        h("td", {}, h("a", { href: `#/clients/${seg(s.clientid)}` }, s.clientid)))))
      : h("p", { class: "muted" }, "No subscription matches."));
  }

  topicFilter.addEventListener("input", render);
  let debounce = null;
  clientFilter.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(load, 300); });
  load();
  return () => { gone = true; clearTimeout(debounce); };
}
