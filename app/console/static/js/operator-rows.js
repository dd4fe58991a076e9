// The operator view's rows: consumers, a webhook's summary, a delivery. Pure rendering.

import { ago, clock, h } from "./dom.js";

const STATE_WORDS = {
  running: "Running",
  paused: "Paused",
  failing: "Failing",
  pending: "Pending",
  succeeded: "Succeeded",
  failed: "Failed",
  completed: "Completed",
  cancelled: "Cancelled",
};

export function stateBadge(state) {
  return h("span", { class: "state", dataset: { state } }, STATE_WORDS[state] || state);
}

/** One row per consumer: where it is, how far behind, its health, and what can be done. */
export function consumerRows(consumers, act) {
  return consumers.map((c) => {
    const lag = c.lag_events ? `${c.lag_events} events, ${c.lag_seconds.toFixed(1)} s` : "up to date";
    const button = (action, label, attrs = {}) =>
      h(
        "button",
        {
          type: "button",
          dataset: { focusKey: `${c.name}:${action}` },
          "aria-label": `${label} ${c.name}`,
          onclick: () => act(c.name, action, c.failing_seq),
          ...attrs,
        },
        label,
      );
    return h(
      "tr",
      { id: `consumer-${c.name}`, dataset: { state: c.state } },
      h("th", { scope: "row" }, c.name),
      h("td", {}, c.kind),
      h("td", {}, stateBadge(c.state), c.rebuild?.state === "running" ? " (rebuilding)" : ""),
      h("td", { class: "num" }, c.checkpoint, h("span", { class: "hint" }, ` / ${c.head}`)),
      h("td", { class: "num" }, lag),
      h("td", { class: "mono" }, c.leader || "—"),
      h("td", { class: "num" }, c.failing_seq ?? "—", c.attempts ? h("div", { class: "hint" }, `${c.attempts} attempts`) : ""),
      h("td", {}, c.error ? h("div", { class: "errtext" }, c.error) : "—", c.parked ? h("div", { class: "hint" }, `${c.parked} skipped`) : ""),
      h(
        "td",
        {},
        h(
          "div",
          { class: "row-actions" },
          c.state === "paused" ? button("resume", "Resume") : button("pause", "Pause"),
          button("skip", c.failing_seq ? `Skip seq ${c.failing_seq}` : "Skip", {
            disabled: c.failing_seq === null,
            title: c.failing_seq === null ? "Only a failing consumer has an event to skip" : null,
          }),
        ),
      ),
    );
  });
}

/** A webhook's heading and health. */
export function webhookHead(hook) {
  const health = hook.disabled_reason
    ? `Disabled: ${hook.disabled_reason}`
    : !hook.enabled
      ? "Disabled"
      : hook.failing_since
        ? `Failing since ${clock(hook.failing_since)}`
        : "Healthy";
  return [
    h("h3", {}, hook.url),
    h(
      "p",
      { class: "meta" },
      h("span", {}, h("strong", {}, health)),
      h("span", {}, `Events: ${hook.event_types.length ? hook.event_types.join(", ") : "all"}`),
      h("span", {}, hook.ordered ? "Ordered per entity" : "Unordered"),
      h("span", {}, `${hook.pending} pending`),
      h("span", {}, `${hook.failed} failed`),
      h("span", {}, `Last success ${ago(hook.last_success_at)}`),
    ),
  ];
}

/** One delivery: the event, its status, attempts, last answer and latency; Retry when done. */
export function deliveryRow(delivery, retry) {
  const last = delivery.attempt_log?.at(-1);
  const answer = delivery.last_status_code
    ? `HTTP ${delivery.last_status_code}`
    : delivery.last_error || (delivery.attempts ? "no answer" : "not tried yet");
  const finished = delivery.status !== "pending";
  return h(
    "tr",
    { id: `delivery-${delivery.id}`, dataset: { status: delivery.status } },
    h("td", { class: "num" }, delivery.id),
    h("td", {}, h("code", {}, delivery.event_type), h("div", { class: "hint" }, `${delivery.entity_id}${delivery.seq ? ` · seq ${delivery.seq}` : ""}`)),
    h("td", {}, stateBadge(delivery.status)),
    h("td", { class: "num" }, delivery.attempts),
    h("td", {}, h("span", { class: delivery.last_error || delivery.status === "failed" ? "errtext" : null }, answer)),
    h("td", { class: "num" }, last ? `${last.latency_ms} ms` : "—"),
    h(
      "td",
      {},
      h(
        "button",
        {
          type: "button",
          disabled: !finished,
          title: finished ? null : "Pending: it is tried again on its schedule",
          dataset: { focusKey: `delivery-${delivery.id}:retry` },
          "aria-label": `Retry delivery ${delivery.id}`,
          onclick: retry,
        },
        "Retry",
      ),
    ),
  );
}
