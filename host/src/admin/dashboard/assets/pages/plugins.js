// Plugins: each with its state and figures, load, unload and reload;
// and a plugin's configuration file in an editor, checked by the plugin
// itself before anything is written, its errors shown on their lines.

import { get, post, put, seg } from "../api.js";
import { confirmButton, fill, h, number, toast } from "../dom.js";
import { LineEditor } from "../editor.js";

const REFRESH_MS = 3000;

export function mount(container, args) {
  if (args.length >= 2 && args[1] === "config") return config(container, args[0]);
  return list(container);
}

function list(container) {
  const body = h("div", { id: "plugins-list", class: "plugin-cards" });
  container.append(h("h1", {}, "Plugins"), body);
  let gone = false;
  let timer = null;
  // Whose figures are unfolded, kept across redraws.
  const unfolded = new Set();

  async function load() {
    clearTimeout(timer);
    // A confirmation in progress is not redrawn away.
    if (!body.querySelector(".armed")) {
      try {
        const answer = await get("/api/v1/plugins");
        if (gone) return;
        const plugins = (answer && answer.plugins) || [];
        fill(body, plugins.length ? plugins.map((p) => card(p, load, unfolded)) : h("p", { class: "muted" }, "No plugin library in the plugins directory."));
      } catch (e) {
        if (!gone) fill(body, h("p", { class: "error" }, e.message));
      }
    }
    if (!gone) timer = setTimeout(load, REFRESH_MS);
  }
  load();
  return () => { gone = true; clearTimeout(timer); };
}

function card(p, reload, unfolded) {
  const name = p.name;
  const act = async (action) => {
    try {
      await post(`/api/v1/plugins/${seg(name)}/${action}`);
      toast(`${name}: ${action} done`);
    } catch (e) {
      toast(`${name}: ${action} failed: ${e.message}`, "error");
    }
    reload();
  };
  const running = p.state === "running";
  const stats = flatten(p.stats || {});
  return h("article", { class: `card plugin state-${p.state}`, dataset: { plugin: name || p.library } },
    h("header", {},
      h("h2", {}, name || p.library, p.version ? h("span", { class: "muted" }, ` ${p.version}`) : null),
      h("span", { class: `badge ${p.state}`, dataset: { field: "state" } }, p.state)),
    p.description ? h("p", { class: "muted" }, p.description) : null,
    h("dl", { class: "facts small" },
      h("dt", {}, "events"), h("dd", { dataset: { field: "events" } }, number(p.events ?? 0)),
      h("dt", {}, "errors"), h("dd", { dataset: { field: "errors" } }, number(p.errors ?? 0)),
      p.hooks && p.hooks.length ? [h("dt", {}, "hooks"), h("dd", {}, p.hooks.join(", "))] : null,
      h("dt", {}, "library"), h("dd", { class: "path" }, p.library || "")),
    p.last_error ? h("p", { class: "error" }, p.last_error) : null,
    p.last_config_error ? h("p", { class: "error", dataset: { field: "last_config_error" } }, `Configuration: ${p.last_config_error}`) : null,
    stats.length ? h("details", {
      open: unfolded.has(name),
      on: { toggle: (e) => (e.target.open ? unfolded.add(name) : unfolded.delete(name)) },
    }, h("summary", {}, "Figures"),
      h("dl", { class: "facts small" }, stats.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))) : null,
    name ? h("div", { class: "actions" },
      running
        ? confirmButton("Unload", "Unload?", () => act("unload"), { class: "danger small" })
        : h("button", { type: "button", class: "small", on: { click: () => act("load") } }, "Load"),
      h("button", { type: "button", class: "small", on: { click: () => act("reload") } }, "Reload"),
      h("a", { class: "button small", href: `#/plugins/${seg(name)}/config` }, "Configuration")) : null);
}

// A plugin's figures, nested as it likes, as `a.b.c` and a value.
function flatten(value, prefix = "", out = []) {
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.push([prefix, typeof value === "number" ? number(value) : String(value)]);
  }
  return out;
}

function config(container, name) {
  const status = h("div", { id: "config-status", role: "status" });
  const problems = h("ul", { id: "config-problems", class: "problems" });
  const where = h("p", { class: "muted path" });
  container.append(
    h("p", {}, h("a", { href: "#/plugins" }, "‹ Plugins")),
    h("h1", {}, `${name}: configuration`),
    where,
    h("div", { id: "config-editor-slot" }, h("p", { class: "muted" }, "Reading…")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "config-validate", on: { click: validate } }, "Validate"),
      h("button", { type: "button", id: "config-save", class: "primary", on: { click: () => save(false) } }, "Save and apply")),
    status, problems);
  let editor = null;
  let gone = false;

  get(`/api/v1/plugins/${seg(name)}/config`).then((file) => {
    if (gone) return;
    where.textContent = file.exists === false ? `${file.path} (does not exist yet)` : file.path;
    editor = new LineEditor(file.text || "", { id: "config-text" });
    editor.onEdit = () => problems.classList.add("stale");
    fill(container.querySelector("#config-editor-slot"), editor.element);
  }, (e) => {
    fill(container.querySelector("#config-editor-slot"), h("p", { class: "error" }, e.message));
  });

  // Shows a check's answer: {ok, errors: [{line, key, message}], warnings}.
  function show(answer, headline, kind) {
    const errors = (answer && answer.errors) || [];
    const warnings = ((answer && answer.warnings) || []).map((w) => (typeof w === "string" ? { message: w } : w));
    const marks = [
      ...errors.map((e) => ({ ...e, kind: "error" })),
      ...warnings.map((w) => ({ ...w, kind: "warning" })),
    ];
    editor.mark(marks);
    problems.classList.remove("stale");
    fill(status, h("p", { class: kind }, headline));
    fill(problems, marks.map((m) => h("li", { class: m.kind, dataset: { line: m.line ? String(m.line) : "" } },
      h("button", { type: "button", class: "link", disabled: !m.line, on: { click: () => editor.goTo(m.line) } },
        m.line ? `Line ${m.line}` : "File"),
      m.key ? [" · ", h("code", { class: "key" }, m.key)] : null,
      ": ", h("span", { class: "message" }, m.message))));
  }

  async function validate() {
    if (!editor) return;
    try {
      const answer = await post(`/api/v1/plugins/${seg(name)}/config/validate`, { text: editor.value });
      if (answer.ok === true) show(answer, "The plugin accepts this configuration.", "ok");
      else if (answer.ok === false) show(answer, "The plugin refuses this configuration.", "error");
      else show(answer, "This plugin cannot check a configuration before it is applied.", "warning");
    } catch (e) {
      fill(status, h("p", { class: "error" }, `Validation failed: ${e.message}`));
    }
  }

  async function save(unchecked) {
    if (!editor) return;
    try {
      const body = { text: editor.value };
      if (unchecked) body.unchecked = true;
      const answer = await put(`/api/v1/plugins/${seg(name)}/config`, body);
      const state = answer.state ? ` ${name} is ${answer.state}.` : "";
      show(answer, `Saved and applied.${state}`, "ok");
      if (answer.last_config_error) {
        fill(status, h("p", { class: "error" }, `Saved, but the plugin reports: ${answer.last_config_error}`));
      }
      toast(`${name}: configuration saved`);
    } catch (e) {
      if (e.status === 422 && e.body) {
        show(e.body, "Nothing was written: the plugin refuses this configuration.", "error");
      } else if (e.status === 501 && e.body) {
        show(e.body, "This plugin cannot check a configuration before it is applied.", "warning");
        status.append(h("button", { type: "button", id: "config-save-unchecked", class: "danger", on: { click: () => save(true) } }, "Save unchecked"));
      } else {
        fill(status, h("p", { class: "error" }, `Saving failed: ${e.message}`));
      }
    }
  }

  return () => { gone = true; };
}
