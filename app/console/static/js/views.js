// Views: choose a view, filter and sort its rows, page through them.
//
// What a view offers (its filters, sortable columns, columns in order) comes from its
// "x-sluice-view" extension in /openapi.json. The address holds the view and its query
// (#/views/<name>?owner=Ada&sort=-balance&offset=20), which goes to the API as it is: a reload
// or a shared link shows the same rows, and the API's own answer explains a bad filter.

import { explain, get } from "./api.js";
import { h } from "./dom.js";
import { address, cellNode } from "./values.js";

const PAGE_SIZES = [10, 25, 50, 100];
const DEFAULT_LIMIT = 25;

export async function mountViews(main, wanted, service) {
  const page = new ViewsPage(main, service);
  await page.route(wanted);
  return page;
}

class ViewsPage {
  constructor(main, service) {
    this.main = main;
    this.views = service.views;
    this.view = null;
    this.params = new URLSearchParams();
    this.reads = 0; // the newest read wins
    this.render();
  }

  stop() {
    this.reads += 1;
  }

  render() {
    this.viewSelect = h("select", { id: "view-name", onchange: () => this.go(this.viewSelect.value, new URLSearchParams()) },
      this.views.map((view) => h("option", { value: view.name }, view.name)));
    this.query = h("form", { class: "view-query", "aria-label": "Filter and sort", onsubmit: (submit) => this.submit(submit) });
    this.summary = h("p", { class: "hint" });
    this.table = h("div", { class: "table-wrap" });
    this.status = h("p", { class: "message", role: "status" });
    this.previous = h("button", { type: "button", id: "previous-page", onclick: () => this.turn(-1) }, "Previous");
    this.next = h("button", { type: "button", id: "next-page", onclick: () => this.turn(1) }, "Next");
    this.main.replaceChildren(
      h("div", { class: "view-head" },
        h("h1", { tabindex: "-1" }, "Views"),
        h("div", { class: "field" }, h("label", { for: "view-name" }, "View"), this.viewSelect)),
      this.views.length
        ? h("section", { class: "panel", "aria-labelledby": "view-title" },
          h("div", { class: "panel-head" }, h("h2", { id: "view-title" }), this.summary),
          this.query, this.table, h("div", { class: "pager" }, this.previous, this.next, this.status))
        : h("p", { class: "empty" }, "This service declares no views."),
    );
  }

  async route({ segments, params }) {
    if (!this.views.length) return;
    const view = this.views.find((v) => v.name === segments[0]) || (segments[0] ? null : this.views[0]);
    if (!view) return this.unknown(segments[0]);
    if (view !== this.view) this.showView(view);
    this.params = params;
    this.fillQuery(params);
    await this.read();
  }

  unknown(name) {
    this.view = null;
    this.viewSelect.selectedIndex = -1;
    this.main.querySelector("#view-title").textContent = name;
    this.summary.textContent = "";
    this.query.replaceChildren();
    this.table.replaceChildren();
    this.previous.disabled = this.next.disabled = true;
    this.status.textContent = `This service has no view “${name}”.`;
    this.status.dataset.kind = "error";
  }

  showView(view) {
    this.view = view;
    this.viewSelect.value = view.name;
    this.main.querySelector("#view-title").textContent = view.name;
    this.summary.textContent = view.summary;
    this.query.replaceChildren(...queryFields(view), h("div", { class: "submit" },
      h("button", { type: "submit", class: "primary" }, "Apply"),
      h("button", { type: "button", onclick: () => this.go(view.name, new URLSearchParams()) }, "Clear")));
  }

  fillQuery(params) {
    for (const element of this.query.elements) {
      if (!element.name) continue;
      const value = params.get(element.name) ?? (element.name === "limit" ? String(DEFAULT_LIMIT) : "");
      if (element.tagName === "SELECT" && ![...element.options].some((option) => option.value === value)) {
        element.append(h("option", { value }, value)); // from the address: kept as it was asked
      }
      element.value = value;
    }
  }

  submit(submit) {
    submit.preventDefault();
    const params = new URLSearchParams();
    for (const element of this.query.elements) {
      const value = element.name ? element.value.trim() : "";
      if (value && !(element.name === "limit" && value === String(DEFAULT_LIMIT))) params.set(element.name, value);
    }
    this.go(this.view.name, params); // a new query starts at the first page
  }

  turn(direction) {
    const params = new URLSearchParams(this.params);
    const offset = direction > 0 ? this.nextOffset : Math.max(0, this.offset - this.limit);
    if (offset) params.set("offset", String(offset));
    else params.delete("offset");
    this.go(this.view.name, params);
  }

  go(name, params) {
    const target = address(["views", name], params);
    if (location.hash === target) this.route({ segments: [name], params });
    else location.hash = target; // the page follows the address: route() reads the rows
  }

  async read() {
    const mine = ++this.reads;
    const view = this.view;
    const params = new URLSearchParams(this.params);
    if (!params.has("limit")) params.set("limit", String(DEFAULT_LIMIT));
    this.limit = Number(params.get("limit")) || DEFAULT_LIMIT;
    this.offset = Number(params.get("offset")) || 0;
    this.status.textContent = "Loading…";
    this.status.dataset.kind = "";
    try {
      const page = await get(`/views/${encodeURIComponent(view.name)}?${params}`);
      if (mine !== this.reads) return;
      this.nextOffset = page.next_offset;
      this.table.replaceChildren(rowsTable(view, page.items));
      const first = page.items.length ? this.offset + 1 : this.offset;
      this.status.textContent = page.items.length ? `Rows ${first}–${this.offset + page.items.length}.` : "No rows match.";
    } catch (error) {
      if (mine !== this.reads) return;
      this.nextOffset = null;
      this.table.replaceChildren();
      this.status.textContent = explain(error);
      this.status.dataset.kind = "error";
    }
    this.previous.disabled = this.offset === 0;
    this.next.disabled = this.nextOffset === null || this.nextOffset === undefined;
  }
}

/** A field per filter, the sort (each sortable column up or down) and the page size. */
function queryFields(view) {
  const field = (id, label, control) => h("div", { class: "field" }, h("label", { for: id }, label), control);
  const filters = view.filters.map((name) =>
    field(`filter-${name}`, name, h("input", { id: `filter-${name}`, name, autocomplete: "off", spellcheck: "false" })));
  const sortOptions = [h("option", { value: "" }, `${view.key} (default)`)];
  for (const column of view.sort) {
    sortOptions.push(h("option", { value: column }, `${column}, ascending`));
    sortOptions.push(h("option", { value: `-${column}` }, `${column}, descending`));
  }
  return [
    ...filters,
    field("view-sort", "Sort by", h("select", { id: "view-sort", name: "sort" }, sortOptions)),
    field("view-limit", "Rows per page", h("select", { id: "view-limit", name: "limit" },
      PAGE_SIZES.map((size) => h("option", { value: String(size) }, String(size))))),
  ];
}

function rowsTable(view, items) {
  const numeric = (column) => items.length > 0 && items.every((row) => typeof row[column] === "number" || row[column] === null);
  return h(
    "table",
    { id: "view-rows", dataset: { view: view.name } },
    h("caption", { class: "visually-hidden" }, `Rows of the ${view.name} view`),
    h("thead", {}, h("tr", {}, view.columns.map((column) => h("th", { scope: "col", class: numeric(column) ? "num" : null }, column)))),
    h("tbody", {}, items.map((row) => h("tr", { dataset: { key: row[view.key] } },
      view.columns.map((column) => column === view.key
        ? h("th", { scope: "row" }, cellNode(row[column]))
        : h("td", { class: typeof row[column] === "number" ? "num" : null }, cellNode(row[column])))))),
  );
}
