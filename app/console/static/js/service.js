// What this service offers, read from its own OpenAPI document (public: no key needed).
//
// Nothing here is written for one service: the entity types are the paths
// /entities/<type>/{entity_id} that answer GET, and the views are the paths /views/<name>
// whose GET carries the "x-sluice-view" extension (key, filters, sortable columns, columns
// in order), which app/views/routes.py writes from each view's declaration.

import { request } from "./api.js";

const ENTITY_PATH = /^\/entities\/([^/{}]+)\/\{entity_id\}$/;
const VIEW_PATH = /^\/views\/([^/{}]+)$/;

let discovered = null;

/** The service, read once per page load; a failed read is tried again on the next call. */
export function discover() {
  discovered ||= request("/openapi.json", { key: null })
    .then(describe)
    .catch((error) => {
      discovered = null;
      throw error;
    });
  return discovered;
}

/** {name, entityTypes: [type], views: [{name, summary, key, filters, sort, columns}], wardBoard,
 * workflows (whether the service has any)} */
export function describe(document) {
  const entityTypes = [];
  const views = [];
  for (const [path, operations] of Object.entries(document.paths || {})) {
    const entity = ENTITY_PATH.exec(path);
    if (entity && operations.get) entityTypes.push(entity[1]);
    const view = VIEW_PATH.exec(path);
    const declared = operations.get?.["x-sluice-view"];
    if (view && declared) views.push({ name: view[1], summary: operations.get.summary || "", ...declared });
  }
  entityTypes.sort();
  views.sort((a, b) => a.name.localeCompare(b.name));
  return {
    name: document.info?.title || "",
    entityTypes,
    views,
    wardBoard: views.some((view) => view.name === "ward-board"),
    workflows: Boolean(document.paths?.["/workflows"]),
  };
}
