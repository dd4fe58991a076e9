// The console's shell: ask for the key once, then show the view the address names.
//   #/board, #/board/<ward>  the ward board
//   #/operator               the operator view

import { ApiError, Unreachable, apiKey, explain, forgetKey, keepKey, request } from "./api.js";
import { mountBoard } from "./board.js";
import { h } from "./dom.js";
import { mountOperator } from "./operator.js";
import { showConnection } from "./stream.js";

const main = document.getElementById("main");
const dialog = document.getElementById("key-dialog");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("key-input");
const keyError = document.getElementById("key-error");
const forget = document.getElementById("forget-key");

let unmount = null;
let shown = null;

function route() {
  const [, view = "board", ...rest] = location.hash.split("/");
  return view === "operator" ? { view } : { view: "board", ward: rest.length ? decodeURIComponent(rest.join("/")) : null };
}

async function show() {
  const wanted = route();
  const key = JSON.stringify(wanted);
  if (shown === key) return;
  shown = key;
  unmount?.();
  unmount = null;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === wanted.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${wanted.view === "operator" ? "Operator" : "Ward board"} · Sluice console`;
  main.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  try {
    unmount = wanted.view === "operator" ? await mountOperator(main) : await mountBoard(main, wanted);
    if (shown !== key) unmount(); // the address changed while this view was loading
    else main.querySelector("h1")?.focus({ preventScroll: true });
  } catch (error) {
    shown = null;
    if (error instanceof ApiError && error.status === 401) return; // the key dialog is open
    main.replaceChildren(
      h("h1", {}, "The console could not load"),
      h("p", { class: "error", role: "alert" }, explain(error)),
      h("button", { type: "button", onclick: show }, "Try again"),
    );
  }
}

function askForKey(reason = "") {
  unmount?.();
  unmount = null;
  shown = null;
  showConnection("stopped");
  main.replaceChildren(h("p", { class: "hint" }, "Waiting for an API key."));
  forget.hidden = true;
  keyError.textContent = reason;
  keyInput.value = "";
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
}

keyForm.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const key = keyInput.value.trim();
  keyError.textContent = "Checking…";
  try {
    await request("/views", { key });
  } catch (error) {
    if (error instanceof Unreachable || (error instanceof ApiError && error.status !== 403)) {
      keyError.textContent = error instanceof ApiError && error.status === 401 ? "This key was refused." : explain(error);
      keyInput.focus();
      return;
    }
    // 403: a real key without views:read; it may still do other things.
  }
  keepKey(key);
  keyError.textContent = "";
  dialog.close();
  forget.hidden = false;
  show();
});

// Escape must not leave the page keyless behind a closed dialog.
dialog.addEventListener("cancel", (cancel) => cancel.preventDefault());

document.addEventListener("sluice:unauthorized", () => {
  forgetKey();
  askForKey("The server refused the key (401). Enter a valid one.");
});

forget.addEventListener("click", () => {
  forgetKey();
  askForKey();
});

window.addEventListener("hashchange", show);

if (apiKey()) {
  forget.hidden = false;
  show();
} else {
  askForKey();
}
