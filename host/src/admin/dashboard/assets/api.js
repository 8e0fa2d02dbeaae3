// The admin API as the page uses it: same-origin requests carrying the
// session cookie (SameSite=Strict, HttpOnly: the page never sees it).
// Requests that change something are JSON, as the API demands of them.

const TIMEOUT_MS = 15000;
// A login checks a slow password hash on purpose, and a busy broker
// queues logins: give it longer.
export const LOGIN_TIMEOUT_MS = 120000;

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// A path segment: client ids, topics and names may hold `/`, `#`, `%`.
export const seg = (value) => encodeURIComponent(value);

async function request(method, path, body, accept, timeout) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout || TIMEOUT_MS);
  const init = {
    method,
    headers: { Accept: accept },
    credentials: "same-origin",
    cache: "no-store",
    signal: controller.signal,
  };
  if (method !== "GET" && method !== "HEAD") {
    init.headers["Content-Type"] = "application/json";
    if (body !== undefined) init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, controller.signal.aborted ? "the broker did not answer in time" : "the broker cannot be reached");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 401 && path !== "/api/v1/login") {
    window.dispatchEvent(new CustomEvent("mqhost:logged-out"));
  }
  return response;
}

// A JSON request: its answer, or null for 204. Throws ApiError.
export async function api(method, path, body, { timeout } = {}) {
  const response = await request(method, path, body, "application/json", timeout);
  const text = await response.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch (e) { json = null; }
  }
  if (!response.ok) {
    const message = (json && json.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message, json);
  }
  return json;
}

// A text request (the Prometheus figures): the text, or null when the
// broker has no such path.
export async function text(path) {
  const response = await request("GET", path, undefined, "text/plain");
  if (response.status === 404) return null;
  if (!response.ok) throw new ApiError(response.status, `${response.status} ${response.statusText}`);
  return response.text();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

// A query string from the entries that have a value.
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, value);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
