// Building DOM without innerHTML: every value from the API lands as text, never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h("button", {type: "button", onclick}, "Label") */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace ``old`` with ``fresh``, keeping keyboard focus on the same control if it had it. */
export function swap(old, fresh) {
  const focused = document.activeElement;
  const key = old.contains(focused) ? focused.dataset.focusKey : undefined;
  old.replaceWith(fresh);
  if (key) fresh.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
}

export function clock(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString([], { hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** Beds and ids in the order people count: "2" before "10". */
export const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" }).compare;

/** Say something to screen readers (the page's one polite live region). */
export function announce(text) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A form's message line: text plus a kind ("ok", "error"), announced by its role. */
export function say(element, text, kind = "") {
  element.textContent = text;
  element.dataset.kind = kind;
}
