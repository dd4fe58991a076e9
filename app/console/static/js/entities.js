// Entities: choose a type, type an id, see the entity's state, version and events.
//
// The address names the lookup (#/entities/<type>/<id>), so it can be bookmarked and shared;
// the form only changes the address, and the page follows it (back and forward included).

import { ApiError, explain, get, query } from "./api.js";
import { announce, h } from "./dom.js";
import { address, fieldList, jsonDetails, valueNode, when } from "./values.js";

const EVENTS_PER_PAGE = 25;

export async function mountEntities(main, wanted, service) {
  const page = new EntitiesPage(main, service);
  await page.route(wanted);
  return page;
}

class EntitiesPage {
  constructor(main, service) {
    this.main = main;
    this.types = service.entityTypes;
    this.lookups = 0; // the newest lookup wins: an older answer arriving late is dropped
    this.render();
  }

  stop() {
    this.lookups += 1;
  }

  render() {
    this.typeSelect = h("select", { id: "entity-type", required: true },
      this.types.map((type) => h("option", { value: type }, type)));
    this.idInput = h("input", { id: "entity-id", required: true, autocomplete: "off", spellcheck: "false", maxlength: 200 });
    this.result = h("div", { id: "entity-result" });
    const form = h(
      "form",
      { class: "lookup", role: "search", "aria-label": "Look up an entity", onsubmit: (submit) => this.submit(submit) },
      h("div", { class: "field" }, h("label", { for: "entity-type" }, "Entity type"), this.typeSelect),
      h("div", { class: "field" }, h("label", { for: "entity-id" }, "Entity id"), this.idInput),
      h("button", { type: "submit", class: "primary" }, "Look up"),
    );
    this.main.replaceChildren(
      h("div", { class: "view-head" }, h("h1", { tabindex: "-1" }, "Entities")),
      h("section", { class: "panel", "aria-label": "Lookup" }, form),
      this.result,
    );
    if (!this.types.length) this.result.replaceChildren(h("p", { class: "empty" }, "This service declares no entities."));
  }

  submit(submit) {
    submit.preventDefault();
    const target = address(["entities", this.typeSelect.value, this.idInput.value.trim()]);
    if (location.hash === target) this.lookup(this.typeSelect.value, this.idInput.value.trim());
    else location.hash = target; // the page follows the address: route() looks it up
  }

  async route({ segments }) {
    const [type, ...rest] = segments;
    const id = rest.join("/");
    if (type && !this.types.includes(type)) this.typeSelect.append(h("option", { value: type }, type));
    if (type) this.typeSelect.value = type;
    this.idInput.value = id;
    if (type && id) await this.lookup(type, id);
    else if (this.types.length) this.result.replaceChildren(h("p", { class: "hint" }, "Choose a type and an id, then Look up."));
  }

  async lookup(type, id) {
    const mine = ++this.lookups;
    const base = `/entities/${encodeURIComponent(type)}/${encodeURIComponent(id)}`;
    this.result.replaceChildren(h("p", { class: "hint", "aria-busy": "true" }, `Looking up ${type} ${id}…`));
    try {
      const [entity, history] = await Promise.all([
        get(base),
        get(`${base}/events${query({ limit: EVENTS_PER_PAGE })}`),
      ]);
      if (mine !== this.lookups) return;
      this.showEntity(entity, history, base);
      announce(`${type} ${id}: version ${entity.version}, ${history.events.length} events shown.`);
    } catch (error) {
      if (mine !== this.lookups) return;
      const missing = error instanceof ApiError && error.status === 404;
      const said = missing ? `No such entity: ${type} “${id}”.` : `Could not look up ${type} “${id}”.`;
      this.result.replaceChildren(
        h("section", { class: "panel", id: "entity-problem" },
          h("p", { class: "error", role: "alert" }, said),
          h("p", { class: "hint" }, explain(error))),
      );
    }
  }

  showEntity(entity, history, base) {
    const rows = h("tbody", {});
    const more = h("button", { type: "button", id: "more-events" }, "Load more events");
    const status = h("p", { class: "hint", role: "status" });
    const table = eventsTable(rows);
    let nextAfter = history.next_after;
    const append = (events) => {
      rows.append(...events.map(eventRow));
      more.hidden = nextAfter === null || nextAfter === undefined;
      status.textContent = `${rows.children.length} events shown${more.hidden ? "" : ", more to load"}.`;
    };
    more.onclick = async () => {
      more.disabled = true;
      try {
        const page = await get(`${base}/events${query({ after: nextAfter, limit: EVENTS_PER_PAGE })}`);
        nextAfter = page.next_after;
        append(page.events);
        rows.children[rows.children.length - page.events.length]?.querySelector("th")?.focus();
      } catch (error) {
        status.textContent = explain(error);
      } finally {
        more.disabled = false;
      }
    };
    append(history.events);
    this.result.replaceChildren(
      h("section", { class: "panel", id: "entity-state", "aria-labelledby": "entity-title" },
        h("div", { class: "panel-head" },
          h("h2", { id: "entity-title" }, `${entity.entity_type} `, h("code", {}, entity.entity_id)),
          h("p", { class: "version" }, "Version ", h("strong", { id: "entity-version" }, entity.version))),
        h("h3", {}, "State"),
        fieldList(entity.state, { id: "entity-fields" })),
      h("section", { class: "panel", "aria-labelledby": "events-title" },
        h("h2", { id: "events-title" }, "Events"),
        h("div", { class: "table-wrap" }, table),
        h("div", { class: "pager" }, more, status)),
    );
  }
}

function eventsTable(rows) {
  const columns = [["Version", "num"], ["Seq", "num"], ["Type", ""], ["Recorded", ""], ["Data", ""]];
  return h(
    "table",
    { id: "entity-events" },
    h("caption", { class: "visually-hidden" }, "The entity's events, oldest first"),
    h("thead", {}, h("tr", {}, columns.map(([name, kind]) => h("th", { scope: "col", class: kind || null }, name)))),
    rows,
  );
}

function eventRow(event) {
  return h(
    "tr",
    { dataset: { version: event.entityversion } },
    h("th", { scope: "row", class: "num", tabindex: "-1" }, event.entityversion),
    h("td", { class: "num" }, event.seq ?? "—"),
    h("td", {}, h("code", {}, event.type)),
    h("td", {}, when(event.time)),
    h("td", { class: "data" }, Object.keys(event.data || {}).length > 3 ? jsonDetails(event.data) : dataFields(event.data)),
  );
}

/** A few fields, inline: "owner: Ada · currency: EUR". */
function dataFields(data) {
  const entries = Object.entries(data || {});
  if (!entries.length) return h("span", { class: "empty" }, "no data");
  return h("dl", { class: "inline-fields" },
    entries.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, valueNode(value)))));
}
