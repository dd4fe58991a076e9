// The operator view: the log tail (live), consumers, webhooks and their deliveries, a chart.
//
// The tail and the command rate come from the WebSocket. Consumer positions and delivery
// outcomes are not events in the log, so those panels are read again when events arrive (at
// most once a second) and every few seconds regardless: a failing consumer or a delivery
// retried on its schedule changes with no new event.

import { explain, get, post, query } from "./api.js";
import { RateChart } from "./chart.js";
import { clock, h, say } from "./dom.js";
import { consumerRows, deliveryRow, webhookHead } from "./operator-rows.js";
import { LogStream, showConnection } from "./stream.js";

const TAIL_ROWS = 100;
const TAIL_BACKFILL = 50;
const REFRESH_MS = 2000;
const EVENT_REFRESH_MS = 1000;
const DELIVERIES_SHOWN = 10;

export async function mountOperator(main) {
  const view = new OperatorView(main);
  await view.start();
  return () => view.stop();
}

class OperatorView {
  constructor(main) {
    this.main = main;
    this.chart = new RateChart();
    this.tailBuffer = [];
    this.tailPaused = false;
    this.webhookSections = new Map(); // webhook id -> {section, head, tbody}
    this.timers = [];
    this.refreshing = false;
    this.again = false;
    this.lastRefresh = 0;
  }

  async start() {
    this.render();
    const { head } = await get("/events?limit=1");
    await this.refresh();
    this.stream = new LogStream({
      after: Math.max(0, head - TAIL_BACKFILL),
      onEvent: (event) => this.heard(event),
      onState: showConnection,
    }).start();
    this.timers.push(setInterval(() => this.refresh(), REFRESH_MS)); // redraws the chart too
  }

  stop() {
    this.stream?.stop();
    this.timers.forEach(clearInterval);
    cancelAnimationFrame(this.frame);
  }

  render() {
    this.message = h("p", { class: "message", role: "status" });
    this.consumersBody = h("tbody", {});
    this.webhooks = h("div", { id: "webhooks" });
    this.tailBody = h("tbody", {});
    const pause = h("button", { type: "button", "aria-pressed": "false", onclick: () => this.toggleTail(pause) }, "Pause tail");
    this.main.replaceChildren(
      h("div", { class: "view-head" }, h("h1", { tabindex: "-1" }, "Operator"), this.message),
      h(
        "div",
        { class: "operator-grid" },
        panel("rate", "Activity", "wide", this.chart.element),
        panel(
          "consumers",
          "Consumers",
          "wide",
          h("p", { class: "hint" }, "Views, actions and the webhook dispatcher, each reading the log from its own checkpoint."),
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { id: "consumers" },
              h("thead", {}, h("tr", {}, ["Consumer", "Kind", "State", "Checkpoint", "Lag", "Leader", "Failing at", "Last error", "Actions"].map(
                (t) => h("th", { scope: "col", class: ["Checkpoint", "Lag", "Failing at"].includes(t) ? "num" : null }, t),
              ))),
              this.consumersBody,
            ),
          ),
        ),
        panel("webhooks", "Webhooks", "", this.webhooks),
        panel(
          "tail",
          "Log tail",
          "",
          h("div", { class: "panel-head" }, h("p", { class: "hint" }, `The newest ${TAIL_ROWS} events, live.`), pause),
          h(
            "div",
            { class: "table-wrap tail", tabindex: "0", "aria-label": "Log tail, newest first" },
            h(
              "table",
              { id: "tail" },
              h("thead", {}, h("tr", {}, ["Seq", "Time", "Type", "Entity", "Ver."].map((t) => h("th", { scope: "col" }, t)))),
              this.tailBody,
            ),
          ),
        ),
      ),
    );
  }

  // -- the log --------------------------------------------------------------------------------
  heard(event) {
    this.chart.noteEvent(event);
    this.tailBuffer.push(event);
    if (this.tailBuffer.length > TAIL_ROWS) this.tailBuffer.splice(0, this.tailBuffer.length - TAIL_ROWS);
    this.frame ||= requestAnimationFrame(() => this.drawTail());
    if (Date.now() - this.lastRefresh > EVENT_REFRESH_MS) this.refresh();
  }

  drawTail() {
    this.frame = null;
    if (this.tailPaused) return;
    const fresh = this.tailBuffer.splice(0).reverse();
    const rows = fresh.map((event) =>
      h(
        "tr",
        { class: "fresh", dataset: { seq: event.seq } },
        h("td", { class: "num" }, event.seq),
        h("td", {}, clock(event.time)),
        h("td", {}, h("code", {}, event.type)),
        h("td", {}, event.subject),
        h("td", { class: "num" }, event.entityversion),
      ),
    );
    this.tailBody.prepend(...rows);
    while (this.tailBody.children.length > TAIL_ROWS) this.tailBody.lastElementChild.remove();
  }

  toggleTail(button) {
    this.tailPaused = !this.tailPaused;
    button.setAttribute("aria-pressed", String(this.tailPaused));
    button.textContent = this.tailPaused ? "Resume tail" : "Pause tail";
    if (!this.tailPaused) this.drawTail();
  }

  // -- consumers and webhooks -----------------------------------------------------------------
  async refresh() {
    if (this.refreshing) {
      this.again = true; // a command just ran: show its effect as soon as this read ends
      return;
    }
    this.refreshing = true;
    this.lastRefresh = Date.now();
    try {
      const [consumers, webhooks] = await Promise.all([get("/consumers"), get("/webhooks")]);
      this.drawConsumers(consumers);
      await this.drawWebhooks(webhooks);
      this.chart.draw();
      if (this.message.dataset.kind === "stale") say(this.message, "");
    } catch (error) {
      say(this.message, `Could not refresh: ${explain(error)}`, "stale");
    } finally {
      this.refreshing = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  drawConsumers(consumers) {
    const focused = document.activeElement?.dataset?.focusKey;
    this.consumersBody.replaceChildren(...consumerRows(consumers, (name, action, seq) => this.consumerAction(name, action, seq)));
    if (focused) this.consumersBody.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  async consumerAction(name, action, seq) {
    const path = `/consumers/${encodeURIComponent(name)}/${action}${action === "skip" ? query({ seq }) : ""}`;
    await this.act(() => post(path), `${name}: ${action === "skip" ? `skipped seq ${seq}` : `${action}d`}.`);
  }

  async drawWebhooks(webhooks) {
    const lists = await Promise.all(
      webhooks.map((hook) => get(`/webhooks/${hook.id}/deliveries${query({ limit: 50 })}`)),
    );
    webhooks.forEach((hook, index) => this.drawWebhook(hook, lists[index].deliveries));
    for (const [id, parts] of this.webhookSections) {
      if (!webhooks.some((hook) => hook.id === id)) {
        parts.section.remove();
        this.webhookSections.delete(id);
      }
    }
    if (!webhooks.length) {
      this.webhooks.replaceChildren(h("p", { class: "empty", id: "no-webhooks" }, "No webhooks. Create one with POST /webhooks."));
    } else {
      document.getElementById("no-webhooks")?.remove();
    }
  }

  drawWebhook(hook, deliveries) {
    this.chart.noteDeliveries(deliveries);
    const parts = this.webhookSections.get(hook.id) || this.webhookSection(hook);
    parts.head.replaceChildren(...webhookHead(hook));
    const focused = document.activeElement?.dataset?.focusKey;
    const rows = deliveries
      .slice(0, DELIVERIES_SHOWN)
      .map((delivery) => deliveryRow(delivery, () => this.retry(hook, delivery)));
    parts.tbody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No deliveries yet."))]));
    if (focused) parts.tbody.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  webhookSection(hook) {
    // Built once per webhook and then only updated, so the replay field keeps what is typed.
    const head = h("div", {});
    const tbody = h("tbody", {});
    const inputId = `replay-${hook.id}`;
    const after = h("input", { id: inputId, type: "number", min: 0, step: 1, required: true, inputmode: "numeric" });
    const replay = h(
      "form",
      { class: "replay", onsubmit: (submit) => { submit.preventDefault(); this.replay(hook, after.value); } },
      h("div", { class: "field" }, h("label", { for: inputId }, "Replay events after seq"), after),
      h("button", { type: "submit" }, "Replay"),
    );
    const section = h(
      "article",
      { class: "webhook", id: `webhook-${hook.id}`, "aria-label": `Webhook ${hook.url}` },
      head,
      replay,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "deliveries" },
          h("caption", {}, `Recent deliveries (newest ${DELIVERIES_SHOWN})`),
          h("thead", {}, h("tr", {}, ["#", "Event", "Status", "Attempts", "Last answer", "Latency", ""].map((t) => h("th", { scope: "col" }, t)))),
          tbody,
        ),
      ),
    );
    this.webhooks.append(section);
    const parts = { section, head, tbody };
    this.webhookSections.set(hook.id, parts);
    return parts;
  }

  async retry(hook, delivery) {
    await this.act(() => post(`/webhooks/${hook.id}/deliveries/${delivery.id}/retry`), `Delivery ${delivery.id} queued again.`);
  }

  async replay(hook, after) {
    await this.act(async () => {
      const queued = await post(`/webhooks/${hook.id}/replay${query({ after })}`);
      return `Replay queued ${queued.queued} deliveries to ${hook.url}.`;
    });
  }

  async act(run, done) {
    say(this.message, "Sending…");
    try {
      const said = await run();
      say(this.message, typeof said === "string" ? said : done, "ok");
    } catch (error) {
      say(this.message, explain(error), "error");
    }
    await this.refresh();
  }
}

function panel(id, title, wide, ...children) {
  return h(
    "section",
    { class: `panel ${wide}`.trim(), id: `panel-${id}`, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    ...children,
  );
}
