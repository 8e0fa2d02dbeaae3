// A small line chart on a canvas: time along the bottom (the last five
// minutes), one line per series, the largest value on the left. Drawn
// again whenever its data or its size changes.

import { h } from "./dom.js";

export class LineChart {
  // series: [{key, label, color}], colors as CSS variables' names.
  constructor(title, series, { span = 300000, unit = "" } = {}) {
    this.series = series;
    this.span = span;
    this.unit = unit;
    this.points = [];
    this.canvas = h("canvas", { class: "chart", role: "img", "aria-label": title });
    this.legend = h("div", { class: "legend" },
      series.map((s) => h("span", { class: `key ${s.color}` }, s.label)));
    this.values = h("div", { class: "legend values" });
    this.element = h("figure", { class: "card chart-card" },
      h("figcaption", {}, title), this.canvas, this.legend, this.values);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
  }

  update(points) {
    this.points = points;
    const last = points[points.length - 1];
    this.values.replaceChildren(...this.series.map((s) => {
      const v = last && last[s.key];
      const shown = v === undefined || v === null ? "–" : format(v);
      return h("span", { class: "value", dataset: { series: s.key } }, `${s.label}: ${shown}${this.unit}`);
    }));
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const style = getComputedStyle(canvas);
    const ink = style.getPropertyValue("--muted").trim() || "#888";
    const grid = style.getPropertyValue("--line").trim() || "#ddd";
    ctx.font = `11px ${style.fontFamily}`;
    const left = 40, bottom = height - 16, top = 8, right = width - 6;
    const now = Date.now();
    const t0 = now - this.span;
    let max = 0;
    for (const p of this.points) for (const s of this.series) {
      const v = p[s.key];
      if (typeof v === "number" && v > max) max = v;
    }
    max = niceCeiling(max);
    // Grid: three horizontal lines, labels at the left.
    ctx.strokeStyle = grid;
    ctx.fillStyle = ink;
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= 2; i++) {
      const y = bottom - ((bottom - top) * i) / 2;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(right, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(format((max * i) / 2), left - 4, y);
    }
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "left";
    ctx.fillText(`-${Math.round(this.span / 60000)} min`, left, height - 3);
    ctx.textAlign = "right";
    ctx.fillText("now", right, height - 3);
    const x = (t) => left + ((t - t0) / this.span) * (right - left);
    const y = (v) => bottom - (max ? (v / max) * (bottom - top) : 0);
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    for (const s of this.series) {
      const color = style.getPropertyValue(`--${s.color}`).trim() || "#1f6f5c";
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      // Runs of consecutive values: a line each, a dot for a lone one.
      let run = [];
      const finish = () => {
        if (run.length === 1) {
          ctx.beginPath();
          ctx.arc(run[0][0], run[0][1], 2.5, 0, 2 * Math.PI);
          ctx.fill();
        } else if (run.length > 1) {
          ctx.beginPath();
          ctx.moveTo(run[0][0], run[0][1]);
          for (const [px, py] of run.slice(1)) ctx.lineTo(px, py);
          ctx.stroke();
        }
        run = [];
      };
      for (const p of this.points) {
        const v = p[s.key];
        if (typeof v !== "number" || p.t < t0) { finish(); continue; }
        run.push([x(p.t), y(v)]);
      }
      finish();
    }
  }

  destroy() {
    this.resize.disconnect();
  }
}

// 1, 2 or 5 times a power of ten, at least `v` (and at least 1).
function niceCeiling(v) {
  if (v <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * power >= v) return m * power;
  return 10 * power;
}

function format(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
