// Workflows (#/workflows?status=running): where each one is, its step, attempt and deadline,
// its last error; Pause, Resume and Cancel for an operator (admin). Read again every 2 s: a
// workflow moves on its own (its runner, its timers) with nothing to tell this page.

import { explain, get, post, query } from "./api.js";
import { clock, h, say } from "./dom.js";
import { stateBadge } from "./operator-rows.js";

const REFRESH_MS = 2000;
const STATUSES = ["open", "running", "paused", "completed", "failed", "cancelled"];

export async function mountWorkflows(main, wanted) {
  const page = new WorkflowsPage(main, wanted.params.get("status") || "open");
  await page.start();
  return {
    stop: () => page.stop(),
    route: (next) => page.show(next.params.get("status") || "open"),
  };
}

/** "in 42 s", "in 3 min", or "now" once it has passed (the workflow is about to move). */
function until(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (seconds <= 0) return "now";
  return seconds < 120 ? `in ${seconds} s` : `in ${Math.round(seconds / 60)} min`;
}

class WorkflowsPage {
  constructor(main, status) {
    this.main = main;
    this.status = STATUSES.includes(status) ? status : "open";
  }

  async start() {
    this.message = h("p", { class: "message", role: "status" });
    this.body = h("tbody", {});
    this.choice = h(
      "select",
      { id: "workflow-status", onchange: () => (location.hash = `#/workflows${query({ status: this.choice.value })}`) },
      STATUSES.map((s) => h("option", { value: s, selected: s === this.status }, s === "open" ? "running or paused" : s)),
    );
    this.main.replaceChildren(
      h("div", { class: "view-head" }, h("h1", { tabindex: "-1" }, "Workflows"), this.message),
      h("p", { class: "hint" }, "Each workflow's current step, and when it times out or is tried again."),
      h("div", { class: "field narrow" }, h("label", { for: "workflow-status" }, "Status"), this.choice),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "workflows" },
          h("thead", {}, h("tr", {}, ["Workflow", "Id", "Status", "Step", "Attempt", "Deadline", "Last error", "Actions"].map(
            (t) => h("th", { scope: "col", class: t === "Attempt" ? "num" : null }, t),
          ))),
          this.body,
        ),
      ),
    );
    await this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  show(status) {
    this.status = STATUSES.includes(status) ? status : "open";
    this.choice.value = this.status;
    this.refresh();
  }

  async refresh() {
    const statuses = this.status === "open" ? [] : [this.status];
    try {
      const page = await get(`/workflows${query({ status: statuses, limit: 200 })}`);
      this.draw(page.workflows);
    } catch (error) {
      say(this.message, explain(error), "error");
    }
  }

  draw(workflows) {
    if (!workflows.length) {
      this.body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "hint" }, "None.")));
      return;
    }
    this.body.replaceChildren(...workflows.map((w) => this.row(w)));
  }

  row(w) {
    const open = w.status === "running" || w.status === "paused";
    const act = (action, label) =>
      h("button", { type: "button", "aria-label": `${label} ${w.workflow} ${w.id}`, onclick: () => this.act(w, action) }, label);
    const deadline = w.deadline
      ? [clock(w.deadline), h("div", { class: "hint" }, `${w.retrying ? "tried again" : "times out"} ${until(w.deadline)}`)]
      : "—";
    return h(
      "tr",
      { id: `workflow-${w.workflow}-${w.id}`, dataset: { status: w.status } },
      h("td", {}, w.workflow),
      h("th", { scope: "row" }, h("a", { href: `#/entities/${encodeURIComponent(w.workflow)}/${encodeURIComponent(w.id)}` }, w.id)),
      h("td", {}, stateBadge(w.status)),
      h("td", {}, h("code", {}, w.step || "—")),
      h("td", { class: "num" }, w.attempt),
      h("td", {}, deadline),
      h("td", {}, w.error ? h("div", { class: "errtext" }, w.error) : "—"),
      h(
        "td",
        {},
        open
          ? h(
              "div",
              { class: "row-actions" },
              w.status === "paused" ? act("resume", "Resume") : act("pause", "Pause"),
              act("cancel", "Cancel"),
            )
          : "—",
      ),
    );
  }

  async act(w, action) {
    try {
      await post(`/workflows/${encodeURIComponent(w.workflow)}/${encodeURIComponent(w.id)}/${action}`, {});
      say(this.message, `${w.workflow} ${w.id}: ${action} done.`, "ok");
    } catch (error) {
      say(this.message, explain(error), "error");
    }
    await this.refresh();
  }
}
