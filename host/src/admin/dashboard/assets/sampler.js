// The broker's figures every two seconds while someone is logged in and
// the page is visible: connections from /api/v1/status, message rates
// from the counters of /metrics (Prometheus text) where the broker has
// them. The last five minutes are kept, so the overview's charts have a
// past when it is opened.

import { get, text } from "./api.js";

export const PERIOD_MS = 2000;
const KEEP = 150;

const samples = [];
const listeners = new Set();
let timer = null;
let running = false;
let previous = null; // the last counters read, for rates
let metricsMissing = false;
export let lastStatus = null;
export let lastError = null;

// The sum of every series of counter `name` (all its labels).
export function counter(metrics, name) {
  let total = null;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const value = Number(rest.slice(rest.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) total = (total || 0) + value;
  }
  return total;
}

const COUNTERS = {
  received: "mqhost_messages_received_total",
  delivered: "mqhost_messages_delivered_total",
  dropped: "mqhost_messages_dropped_total",
};

async function sample() {
  const t = Date.now();
  let status;
  try {
    status = await get("/api/v1/status");
    lastStatus = status;
    lastError = null;
  } catch (e) {
    lastError = e;
    notify();
    return;
  }
  const point = { t, connections: status.clients_connected, sessions: status.sessions };
  if (!metricsMissing) {
    try {
      const metrics = await text("/metrics");
      if (metrics === null) {
        metricsMissing = true;
      } else {
        const now = {};
        for (const [key, name] of Object.entries(COUNTERS)) now[key] = counter(metrics, name);
        if (previous) {
          const dt = (t - previous.t) / 1000;
          for (const key of Object.keys(COUNTERS)) {
            if (now[key] !== null && previous[key] !== null && dt > 0) {
              point[key] = Math.max(0, (now[key] - previous[key]) / dt);
            }
          }
        }
        previous = { t, ...now };
      }
    } catch (e) {
      // Rates skip a beat; connections still count.
    }
  }
  samples.push(point);
  if (samples.length > KEEP) samples.splice(0, samples.length - KEEP);
  notify();
}

function notify() {
  for (const fn of listeners) fn(samples);
}

async function loop() {
  if (!running) return;
  if (!document.hidden) await sample();
  if (running) timer = setTimeout(loop, PERIOD_MS);
}

export function start() {
  if (running) return;
  running = true;
  loop();
}

export function stop() {
  running = false;
  clearTimeout(timer);
  samples.length = 0;
  previous = null;
}

export const hasRates = () => !metricsMissing;

// Calls `fn(samples)` after each sample; returns the way to stop.
export function watch(fn) {
  listeners.add(fn);
  fn(samples);
  return () => listeners.delete(fn);
}
