// The console's shell: ask for the key once, then show the page the address names.
//   #/board, #/board/<ward>            the ward board (only for a service with a ward-board view)
//   #/entities, #/entities/<type>/<id>  an entity's state and events
//   #/views, #/views/<name>?<query>     a view's rows (filters, sort and paging in the query)
//   #/log?<filters>                     the live log
//   #/operator                          consumers, webhooks, the log tail
//   #/workflows?status=<status>         workflows: step, deadline, pause/resume/cancel
// What the service offers comes from its OpenAPI document (service.js), so every page but the
// ward board works for any service. The default page is the ward board where there is one.

import { ApiError, Unreachable, apiKey, explain, forgetKey, keepKey, request } from "./api.js";
import { mountBoard } from "./board.js";
import { h } from "./dom.js";
import { mountEntities } from "./entities.js";
import { mountLog } from "./log.js";
import { mountOperator } from "./operator.js";
import { discover } from "./service.js";
import { showConnection } from "./stream.js";
import { mountViews } from "./views.js";
import { mountWorkflows } from "./workflows.js";

const main = document.getElementById("main");
const dialog = document.getElementById("key-dialog");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("key-input");
const keyError = document.getElementById("key-error");
const forget = document.getElementById("forget-key");

// Each page's mount(main, wanted, service) resolves to {stop, route?}: a page with route()
// follows a change of its own address (a lookup, a filter) without being mounted again.
const PAGES = {
  board: { title: "Ward board", mount: async (at, wanted) => ({ stop: await mountBoard(at, { ward: wanted.ward }) }) },
  entities: { title: "Entities", mount: mountEntities },
  views: { title: "Views", mount: mountViews },
  log: { title: "Log", mount: mountLog },
  operator: { title: "Operator", mount: async (at) => ({ stop: await mountOperator(at) }) },
  workflows: { title: "Workflows", mount: mountWorkflows },
};

let current = null; // {key, wanted, page}: the page shown, or being mounted (page null)

/** {view, segments, params, ward, key}: key changes only when the page must be mounted again. */
function route(service) {
  const hash = location.hash.replace(/^#\/?/, "");
  const cut = hash.includes("?") ? hash.indexOf("?") : hash.length;
  const [first = "", ...rest] = hash.slice(0, cut).split("/");
  const segments = rest.filter(Boolean).map(decoded);
  const params = new URLSearchParams(hash.slice(cut + 1));
  const known =
    Object.hasOwn(PAGES, first) && (first !== "board" || service.wardBoard) && (first !== "workflows" || service.workflows);
  const view = known ? first : service.wardBoard ? "board" : "entities";
  const ward = view === "board" && segments.length ? segments.join("/") : null;
  return { view, segments, params, ward, key: view === "board" ? `board/${ward}` : view };
}

function decoded(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // a malformed %-escape: shown as typed
  }
}

function markNavigation(service, view) {
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === "board") link.parentElement.hidden = !service.wardBoard;
    if (link.dataset.view === "workflows") link.parentElement.hidden = !service.workflows;
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${PAGES[view].title} · Sluice console`;
}

async function show() {
  let service;
  try {
    service = await discover();
  } catch (error) {
    current = null;
    failed(error);
    return;
  }
  const wanted = route(service);
  markNavigation(service, wanted.view);
  if (!apiKey()) return; // the key dialog is open; it calls show() once it has a key
  if (current?.key === wanted.key) {
    current.wanted = wanted;
    current.page?.route?.(wanted);
    return;
  }
  current?.page?.stop();
  const mine = { key: wanted.key, wanted, page: null };
  current = mine;
  main.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  try {
    const page = await PAGES[wanted.view].mount(main, wanted, service);
    if (current !== mine) return page.stop(); // the address changed while this page was loading
    mine.page = page;
    if (mine.wanted !== wanted) page.route?.(mine.wanted);
    main.querySelector("h1")?.focus({ preventScroll: true });
  } catch (error) {
    if (current !== mine) return;
    current = null;
    if (error instanceof ApiError && error.status === 401) return; // the key dialog is open
    failed(error);
  }
}

function failed(error) {
  main.replaceChildren(
    h("h1", { tabindex: "-1" }, "The console could not load"),
    h("p", { class: "error", role: "alert" }, explain(error)),
    h("button", { type: "button", onclick: show }, "Try again"),
  );
}

function askForKey(reason = "") {
  current?.page?.stop();
  current = null;
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
} else {
  askForKey();
}
show(); // without a key, it only reads what the service offers (for the navigation)
