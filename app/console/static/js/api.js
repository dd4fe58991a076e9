// The Sluice API as the console uses it: the key, requests, problem details, commands.

const KEY_ITEM = "sluice.apiKey";

// The console lives at <base>/console/; the API at <base>/ (a proxy may add a prefix).
export const BASE = location.pathname.replace(/\/console(\/.*)?$/, "");

export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function keepKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An API answer other than 2xx, with its problem details (RFC 9457) when it has them. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

/** The API could not be reached at all (server down, network gone). */
export class Unreachable extends Error {}

export async function request(path, { method = "GET", body, headers = {}, key = apiKey() } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch (error) {
    throw new Unreachable(`the server cannot be reached (${error.message})`);
  }
  const text = await response.text();
  const data = text ? safeJson(text) : null;
  if (!response.ok) {
    if (response.status === 401) document.dispatchEvent(new CustomEvent("sluice:unauthorized"));
    throw new ApiError(response.status, data);
  }
  return data;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

export const get = (path) => request(path);
export const post = (path, body) => request(path, { method: "POST", body });

/** Run a command once: a retried click or a lost answer never runs it twice. */
export function command(entityType, entityId, name, body) {
  const path = `/entities/${encodeURIComponent(entityType)}/${encodeURIComponent(entityId)}/${name}`;
  return request(path, { method: "POST", body, headers: { "Idempotency-Key": `console-${uuid()}` } });
}

function uuid() {
  // crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Query string from an object; arrays repeat their key, null/undefined are left out. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") search.append(name, String(item));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** A message for people: what failed and why, from the problem details. */
export function explain(error) {
  if (error instanceof ApiError) {
    const { title, detail } = error.problem;
    if (error.status === 403) return `Not allowed: ${detail || "this key lacks the scope"}`;
    return [title, detail].filter(Boolean).join(": ") || `HTTP ${error.status}`;
  }
  return error.message || String(error);
}
