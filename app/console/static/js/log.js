// Log: the event log, live, newest first, filtered by event type, entity type and entity id.
//
// The filters live in the address (#/log?type=&entity_type=&entity_id=) and go to the server,
// which filters the stream itself. A change of filter starts a new stream from the last
// BACKFILL events; pausing keeps receiving (so nothing is lost) and holds the rows back.

import { explain, get, query } from "./api.js";
import { announce, clock, h, say } from "./dom.js";
import { address, jsonDetails } from "./values.js";
import { LogStream, showConnection } from "./stream.js";

const BACKFILL = 50;
const ROWS_KEPT = 500;
const FILTERS = [
  ["type", "Event type", "e.g. account.MoneyDeposited"],
  ["entity_type", "Entity type", ""],
  ["entity_id", "Entity id", ""],
];

export async function mountLog(main, wanted, service) {
  const page = new LogPage(main, service);
  await page.route(wanted);
  return page;
}

class LogPage {
  constructor(main, service) {
    this.main = main;
    this.entityTypes = service.entityTypes;
    this.filters = null; // what the running stream keeps, as a query string
    this.waiting = []; // events received while paused (or before the next frame), oldest first
    this.overflowed = false; // more waited than are kept
    this.paused = false;
    this.starts = 0; // the newest start wins
    this.render();
  }

  stop() {
    this.starts += 1;
    this.stream?.stop();
    cancelAnimationFrame(this.frame);
  }

  render() {
    this.form = h("form", { class: "log-filters", "aria-label": "Log filters", onsubmit: (submit) => this.submit(submit) },
      FILTERS.map(([name, label, hint]) => h("div", { class: "field" },
        h("label", { for: `log-${name}` }, label), this.control(name, hint))),
      h("div", { class: "submit" }, h("button", { type: "submit", class: "primary" }, "Apply"),
        h("button", { type: "button", onclick: () => this.go(new URLSearchParams()) }, "Clear")));
    this.pause = h("button", { type: "button", id: "log-pause", "aria-pressed": "false", onclick: () => this.toggle() }, "Pause");
    this.held = h("p", { class: "hint", id: "log-waiting" }); // not live: a count per event would drown a reader
    this.message = h("p", { class: "message", role: "status" });
    this.rows = h("tbody", {});
    this.main.replaceChildren(
      h("div", { class: "view-head" }, h("h1", { tabindex: "-1" }, "Log")),
      h("section", { class: "panel", "aria-label": "Filters" }, this.form, this.message),
      h("section", { class: "panel", "aria-labelledby": "log-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "log-title" }, "Events, newest first"), this.held, this.pause),
        h("div", { class: "table-wrap", tabindex: "0", "aria-label": `The newest ${ROWS_KEPT} events` },
          h("table", { id: "log-table" },
            h("thead", {}, h("tr", {}, ["Seq", "Time", "Type", "Subject", "Data"].map(
              (title) => h("th", { scope: "col", class: title === "Seq" ? "num" : null }, title)))),
            this.rows))),
    );
  }

  control(name, hint) {
    if (name === "entity_type") {
      return h("select", { id: `log-${name}`, name }, h("option", { value: "" }, "Any"),
        this.entityTypes.map((type) => h("option", { value: type }, type)));
    }
    const typed = h("input", { id: `log-${name}`, name, autocomplete: "off", spellcheck: "false", placeholder: hint || null });
    if (name === "type") typed.setAttribute("list", "log-types");
    return name === "type" ? [typed, h("datalist", { id: "log-types" })] : typed;
  }

  submit(submit) {
    submit.preventDefault();
    const params = new URLSearchParams();
    for (const [name] of FILTERS) {
      const value = this.form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    this.go(params);
  }

  go(params) {
    const target = address(["log"], params);
    if (location.hash === target) this.route({ params, restart: true });
    else location.hash = target; // the page follows the address: route() restarts the stream
  }

  async route({ params, restart = false }) {
    const filters = new URLSearchParams(FILTERS.map(([name]) => [name, params.get(name) || ""]).filter(([, v]) => v));
    for (const [name] of FILTERS) this.form.elements[name].value = filters.get(name) || "";
    if (!restart && filters.toString() === this.filters) return;
    this.filters = filters.toString();
    await this.start(filters);
  }

  async start(filters) {
    const mine = ++this.starts;
    this.stream?.stop();
    this.stream = null;
    this.waiting = [];
    this.overflowed = false;
    this.rows.replaceChildren();
    this.showWaiting();
    say(this.message, "");
    let head;
    try { // the same filters as the stream's: a bad one is explained here, not retried there
      ({ head } = await get(`/events${query({ limit: 1, ...Object.fromEntries(filters) })}`));
    } catch (error) {
      if (mine === this.starts) say(this.message, explain(error), "error");
      return;
    }
    if (mine !== this.starts) return;
    this.stream = new LogStream({
      after: Math.max(0, head - BACKFILL),
      types: filters.getAll("type"),
      entityType: filters.get("entity_type") || "",
      entityId: filters.get("entity_id") || "",
      onEvent: (event) => this.heard(event),
      onState: showConnection,
    }).start();
  }

  heard(event) {
    this.waiting.push(event);
    if (this.waiting.length > ROWS_KEPT) {
      this.waiting.splice(0, this.waiting.length - ROWS_KEPT);
      this.overflowed = true;
    }
    this.noteType(event.type);
    if (this.paused) this.showWaiting();
    else this.frame ||= requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = null;
    if (this.paused) return;
    const fresh = this.waiting.splice(0).reverse().map(eventRow);
    this.overflowed = false;
    this.rows.prepend(...fresh);
    while (this.rows.children.length > ROWS_KEPT) this.rows.lastElementChild.remove();
    this.showWaiting();
  }

  toggle() {
    this.paused = !this.paused;
    this.pause.setAttribute("aria-pressed", String(this.paused));
    this.pause.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) this.draw();
    announce(this.paused ? "Log paused: new events wait." : "Log resumed.");
  }

  showWaiting() {
    const count = this.waiting.length;
    const shown = `${count}${this.overflowed ? "+" : ""}`;
    this.held.textContent = this.paused ? `Paused: ${shown} new ${count === 1 ? "event waits" : "events wait"}.` : "";
    this.held.dataset.waiting = String(this.paused ? count : 0);
  }

  noteType(type) {
    const list = this.main.querySelector("#log-types");
    if (list && ![...list.options].some((option) => option.value === type)) list.append(h("option", { value: type }));
  }
}

function eventRow(event) {
  return h(
    "tr",
    { class: "fresh", dataset: { seq: event.seq, subject: event.subject } },
    h("td", { class: "num" }, event.seq),
    h("td", {}, h("time", { datetime: event.time, title: event.time }, clock(event.time))),
    h("td", {}, h("code", {}, event.type)),
    h("td", {}, event.subject),
    h("td", { class: "data" }, jsonDetails(event.data)),
  );
}
