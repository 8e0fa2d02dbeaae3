// Elements built from data, never from HTML strings: client ids, user
// names, topics and payloads come from clients and go in as text.

// h("tr", {class: "x", on: {click: f}}, "text", child, [more, children])
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Replaces everything in `el` with `children`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A table: column titles, and rows of cells (text or elements).
export function table(columns, rows, props) {
  return h("div", { class: "table-wrap" },
    h("table", props || {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { text: c })))),
      h("tbody", {}, rows)));
}

// A button that asks again before it acts: the first press arms it for a
// few seconds, the second acts. No modal dialog: it works the same on a
// phone and under a test's WebDriver.
export function confirmButton(label, confirmLabel, action, props) {
  const button = h("button", { type: "button", class: "danger", ...(props || {}) }, label);
  let timer = null;
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    if (!timer) {
      button.textContent = confirmLabel;
      button.classList.add("armed");
      timer = setTimeout(() => {
        timer = null;
        button.textContent = label;
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(timer);
    timer = null;
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
      button.textContent = label;
      button.classList.remove("armed");
    }
  });
  return button;
}

let toastTimer = null;

// A short message at the bottom of the screen.
export function toast(message, kind) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = kind || "";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3000);
}

export function seconds(total) {
  if (total === undefined || total === null) return "";
  let s = Math.floor(Number(total));
  const d = Math.floor(s / 86400); s %= 86400;
  const hrs = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function bytes(n) {
  n = Number(n) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// A time as the API gives it (RFC 3339 or seconds) in local time.
export function when(value) {
  if (value === undefined || value === null || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function number(n) {
  if (n === undefined || n === null) return "";
  if (typeof n !== "number") return String(n);
  return Number.isInteger(n) ? n.toLocaleString() : n.toFixed(2);
}

// A field of a form: a label with its input.
export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}
