// A small MQTT client in the page, over one of the broker's WebSocket
// listeners: connect, subscribe, publish at QoS 0, and watch what
// arrives. Shown only where the broker has a ws or wss listener.

import { get } from "../api.js";
import { field, fill, h, toast } from "../dom.js";
import * as mqtt from "../mqtt.js";

const KEEPALIVE = 60;
const LOG_LINES = 200;

// The WebSocket listeners: [{id, url}].
async function websocketListeners() {
  let list;
  try {
    list = await get("/api/v1/listeners");
  } catch (e) {
    return [];
  }
  const data = Array.isArray(list) ? list : (list && list.data) || [];
  return data.filter((l) => l.type === "ws" || l.type === "wss").map((l) => ({
    id: l.id || `${l.type}:${l.name}`,
    url: `${l.type}://${host(l.bind)}${l.mqtt_path || "/mqtt"}`,
  }));
}

// Where the page should reach a listener bound to `bind` (ip:port): by
// the name the page was reached by when that is the same machine's
// listener on every interface or on loopback, else by its address.
function host(bind) {
  const at = bind.lastIndexOf(":");
  const ip = bind.slice(0, at), port = bind.slice(at + 1);
  const page = location.hostname;
  const pageLoopback = page === "localhost" || page.startsWith("127.") || page === "[::1]";
  const unspecified = ip === "0.0.0.0" || ip === "[::]";
  const loopback = ip.startsWith("127.") || ip === "[::1]";
  const name = unspecified || (loopback && pageLoopback) ? page : ip;
  return `${name}:${port}`;
}

export async function available() {
  return (await websocketListeners()).length > 0;
}

// One connection; `on` gets {state} and {message} events.
class Client {
  constructor(url, options, on) {
    this.on = on;
    this.nextId = 1;
    this.decoder = new mqtt.Decoder();
    this.pending = new Map(); // packet id -> what it was for
    this.ws = new WebSocket(url, "mqtt");
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => {
      this.send(mqtt.connect({ ...options, keepalive: KEEPALIVE }));
      this.ping = setInterval(() => this.send(mqtt.PINGREQ), (KEEPALIVE * 1000) / 2);
    };
    this.ws.onmessage = (event) => {
      let packets;
      try {
        packets = this.decoder.push(new Uint8Array(event.data));
      } catch (e) {
        on.state(`protocol error: ${e.message}`, false);
        this.ws.close();
        return;
      }
      for (const p of packets) this.handle(p);
    };
    this.ws.onclose = (event) => {
      clearInterval(this.ping);
      on.state(`disconnected${event.code && event.code !== 1000 ? ` (WebSocket ${event.code}${event.reason ? `: ${event.reason}` : ""})` : ""}`, false);
    };
    this.ws.onerror = () => on.state("the connection failed", false);
  }

  handle(p) {
    if (p.type === "connack") {
      if (p.code === 0) this.on.state("connected", true);
      else this.on.state(`refused: ${mqtt.CONNACK_CODES[p.code] || `code ${p.code}`}`, false);
    } else if (p.type === "publish") {
      if (p.qos === 1 && p.id !== null) this.send(mqtt.puback(p.id));
      this.on.message(p);
    } else if (p.type === "suback" || p.type === "unsuback") {
      const what = this.pending.get(p.id);
      this.pending.delete(p.id);
      if (what) this.on.ack(p, what);
    }
  }

  send(bytes) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  id(what) {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    this.pending.set(id, what);
    return id;
  }

  subscribe(filter) { this.send(mqtt.subscribe(this.id({ subscribe: filter }), filter, 0)); }
  unsubscribe(filter) { this.send(mqtt.unsubscribe(this.id({ unsubscribe: filter }), filter)); }
  publish(topic, payload, retain) { this.send(mqtt.publish(topic, payload, { retain })); }

  close() {
    this.send(mqtt.DISCONNECT);
    clearInterval(this.ping);
    this.ws.close(1000);
  }
}

export function mount(container) {
  const url = h("input", { id: "mqtt-url", autocapitalize: "none", spellcheck: "false" });
  const listener = h("select", { id: "mqtt-listener" });
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  const clientId = h("input", { id: "mqtt-clientid", value: `dashboard-${random}`, autocapitalize: "none", spellcheck: "false" });
  const username = h("input", { id: "mqtt-username", autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { id: "mqtt-password", type: "password", autocomplete: "off" });
  const connectButton = h("button", { type: "submit", id: "mqtt-connect", class: "primary" }, "Connect");
  const state = h("p", { id: "mqtt-state", class: "muted" }, "not connected");
  const filter = h("input", { id: "mqtt-filter", placeholder: "topic/filter/#", autocapitalize: "none", spellcheck: "false" });
  const subscriptions = h("ul", { id: "mqtt-subscriptions", class: "chips" });
  const topic = h("input", { id: "mqtt-topic", placeholder: "topic", autocapitalize: "none", spellcheck: "false" });
  const payload = h("textarea", { id: "mqtt-payload", rows: "3", spellcheck: "false" });
  const retain = h("input", { id: "mqtt-retain", type: "checkbox" });
  const log = h("ol", { id: "mqtt-log", class: "log" });
  const session = h("div", { class: "session", hidden: true },
    h("form", { class: "inline", on: { submit: (e) => { e.preventDefault(); if (filter.value) client.subscribe(filter.value); } } },
      field("Subscribe to", filter), h("button", { type: "submit", id: "mqtt-subscribe" }, "Subscribe")),
    subscriptions,
    h("form", { class: "stack", on: { submit: (e) => { e.preventDefault(); if (topic.value) client.publish(topic.value, payload.value, retain.checked); } } },
      field("Topic", topic), field("Payload", payload),
      h("label", { class: "check" }, retain, " retain"),
      h("button", { type: "submit", id: "mqtt-publish" }, "Publish (QoS 0)")),
    h("h2", {}, "Messages"), log);

  let client = null;
  const connectForm = h("form", { class: "stack", id: "mqtt-connect-form" },
    field("Listener", listener), field("URL", url), field("Client id", clientId),
    field("User", username), field("Password", password), connectButton, state);
  container.append(h("h1", {}, "MQTT client"), h("div", { class: "mqtt-grid" }, connectForm, session));

  websocketListeners().then((list) => {
    if (!list.length) {
      fill(container, h("h1", {}, "MQTT client"), h("p", { class: "muted" }, "This broker has no WebSocket listener (listener.ws.NAME)."));
      return;
    }
    fill(listener, list.map((l) => h("option", { value: l.url }, l.id)));
    url.value = list[0].url;
  });
  listener.addEventListener("change", () => { url.value = listener.value; });

  connectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (client) { client.close(); return; }
    state.textContent = "connecting…";
    fill(subscriptions);
    try {
      client = new Client(url.value, { clientId: clientId.value, username: username.value, password: password.value }, {
        state(text, up) {
          state.textContent = text;
          session.hidden = !up;
          connectButton.textContent = up ? "Disconnect" : "Connect";
          if (!up) { client = null; connectButton.textContent = "Connect"; }
        },
        message(p) {
          const text = new TextDecoder().decode(p.payload);
          log.prepend(h("li", {},
            h("span", { class: "muted" }, new Date().toLocaleTimeString()), " ",
            h("code", { class: "topic" }, p.topic), p.retain ? h("span", { class: "badge" }, "retained") : null,
            h("pre", { class: "payload" }, text)));
          while (log.children.length > LOG_LINES) log.lastChild.remove();
        },
        ack(p, what) {
          if (what.subscribe) {
            if (p.codes[0] === 0x80) toast(`Subscription to ${what.subscribe} refused`, "error");
            else subscriptions.append(h("li", {}, h("code", {}, what.subscribe), " ",
              h("button", { type: "button", class: "link", on: { click: (e) => { client.unsubscribe(what.subscribe); e.target.parentElement.remove(); } } }, "×")));
          }
        },
      });
    } catch (e) {
      client = null;
      state.textContent = `cannot connect: ${e.message}`;
    }
  });

  return () => { if (client) client.close(); };
}
