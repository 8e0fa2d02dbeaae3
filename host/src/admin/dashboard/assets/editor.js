// A plain text editor for `key = value` files: a textarea with line
// numbers beside it and, behind it, a band on each line that has a
// problem, so an error shows against its line and key. Lines do not wrap,
// so line N of the text is line N on screen.

import { fill, h } from "./dom.js";

export class LineEditor {
  constructor(text, { id } = {}) {
    this.gutter = h("div", { class: "gutter", "aria-hidden": "true" });
    this.bands = h("div", { class: "bands", "aria-hidden": "true" });
    this.area = h("textarea", {
      id, class: "code", wrap: "off", spellcheck: "false", autocapitalize: "none",
      autocomplete: "off", "aria-label": "configuration file",
    });
    this.area.value = text;
    this.problems = new Map(); // line -> [{kind, message}]
    this.element = h("div", { class: "editor" }, this.gutter, h("div", { class: "text" }, this.bands, this.area));
    this.area.addEventListener("scroll", () => this.sync());
    this.area.addEventListener("input", () => {
      // Marks are for the text that was checked: an edit makes them stale.
      if (this.problems.size) this.mark([]);
      else this.lines();
      if (this.onEdit) this.onEdit();
    });
    this.lines();
  }

  get value() { return this.area.value; }

  // Marks problems: [{line, kind: "error" | "warning", message}] (a line
  // of 0 or none: the whole file).
  mark(problems) {
    this.problems = new Map();
    for (const p of problems) {
      if (!p.line) continue;
      if (!this.problems.has(p.line)) this.problems.set(p.line, []);
      this.problems.get(p.line).push(p);
    }
    this.lines();
  }

  lines() {
    const count = this.area.value.split("\n").length;
    const number = [], band = [];
    for (let line = 1; line <= count; line++) {
      const found = this.problems.get(line);
      const kind = found ? (found.some((p) => p.kind === "error") ? "error" : "warning") : "";
      const title = found ? found.map((p) => p.message).join("\n") : undefined;
      number.push(h("div", { class: kind, dataset: { line: String(line) }, title }, String(line)));
      band.push(h("div", { class: kind }, "\u200b"));
    }
    fill(this.gutter, number);
    fill(this.bands, band);
    this.sync();
  }

  sync() {
    this.gutter.scrollTop = this.area.scrollTop;
    this.bands.scrollTop = this.area.scrollTop;
    this.bands.scrollLeft = this.area.scrollLeft;
  }

  // Puts the caret at the start of `line` and brings it into view.
  goTo(line) {
    const lines = this.area.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    const end = offset + (lines[line - 1] || "").length;
    this.area.focus();
    this.area.setSelectionRange(offset, end);
    const height = this.area.scrollHeight / Math.max(1, lines.length);
    this.area.scrollTop = Math.max(0, (line - 3) * height);
    this.sync();
  }
}
