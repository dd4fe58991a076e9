// Any service's values, shown as text: scalars as they are, nested values as JSON.

import { h } from "./dom.js";

const SUMMARY_CHARS = 80;

/** A value for a table cell or a definition: nested values as formatted JSON text. */
export function valueNode(value) {
  if (value === null || value === undefined) return h("span", { class: "null" }, "null");
  if (typeof value === "object") return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  if (typeof value === "boolean" || typeof value === "number") return h("span", { class: "mono" }, String(value));
  return String(value);
}

/** A short value for a table cell: nested values on one line, whole in a <details> when long. */
export function cellNode(value) {
  if (value === null || typeof value !== "object") return valueNode(value);
  const line = JSON.stringify(value);
  return line.length <= SUMMARY_CHARS ? h("code", {}, line) : jsonDetails(value);
}

/** Collapsed JSON: one line as the summary, formatted when opened. */
export function jsonDetails(value) {
  const line = JSON.stringify(value);
  const summary = line.length > SUMMARY_CHARS ? `${line.slice(0, SUMMARY_CHARS - 1)}…` : line;
  return h(
    "details",
    { class: "json-details" },
    h("summary", {}, h("code", {}, summary)),
    h("pre", { class: "json" }, JSON.stringify(value, null, 2)),
  );
}

/** An object's fields as a definition list (field → value). */
export function fieldList(object, attrs = {}) {
  const entries = Object.entries(object || {});
  if (!entries.length) return h("p", { class: "empty" }, "No fields.");
  return h(
    "dl",
    { class: "fields", ...attrs },
    entries.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, valueNode(value)))),
  );
}

/** A moment with its date, as people read it; the exact instant in the datetime attribute. */
export function when(iso) {
  if (!iso) return "—";
  const shown = new Date(iso).toLocaleString([], {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  return h("time", { datetime: iso, title: iso }, shown);
}

/** The page's address for a path and its query ("#/views/x?owner=y"). */
export function address(segments, params = new URLSearchParams()) {
  const path = segments.map((segment) => encodeURIComponent(segment)).join("/");
  const search = params.toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}
