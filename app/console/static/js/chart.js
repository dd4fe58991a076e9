// The operator's chart: commands/s and webhook delivery outcomes over the last minutes.
//
// Where the numbers come from, honestly:
//   * commands: the live log. Every command that changes anything appends its events in one
//     transaction, so they share an entity and a commit time; one (entity, time) is one
//     command. Commands that append nothing (rejections, "unchanged" replies) are not seen.
//     Events are placed by their own time, so a catch-up fills the past correctly.
//   * deliveries: the attempts listed by GET /webhooks/{id}/deliveries (each carries its
//     time and answer), as the page refreshes them; the page remembers what it has seen, so
//     the window covers the time since the page opened, plus what those lists still show.

import { h, svg } from "./dom.js";

const WINDOW_MS = 5 * 60 * 1000;
const BUCKET_MS = 10 * 1000;
const BUCKETS = WINDOW_MS / BUCKET_MS;
const WIDTH = 720;
const HEIGHT = 130;
const LEFT = 44;
const BOTTOM = 20;

export class RateChart {
  constructor() {
    this.commands = new Map(); // "source|subject|time" -> time (ms)
    this.attempts = new Map(); // "delivery|attempted_at" -> {at, ok}
    this.commandsSvg = h("div", {});
    this.deliveriesSvg = h("div", {});
    this.summary = h("p", { class: "hint", id: "chart-summary" });
    this.element = h(
      "div",
      { class: "chart" },
      h(
        "div",
        { class: "charts" },
        h("figure", {}, h("figcaption", { id: "cmd-title" }, "Commands per second"), this.commandsSvg),
        h(
          "figure",
          {},
          h(
            "figcaption",
            { id: "dlv-title" },
            "Webhook delivery attempts per 10 s: ",
            h("span", { class: "swatch ok", "aria-hidden": "true" }),
            " succeeded (solid), ",
            h("span", { class: "swatch fail", "aria-hidden": "true" }),
            " failed (hatched)",
          ),
          this.deliveriesSvg,
        ),
      ),
      this.summary,
    );
  }

  noteEvent(event) {
    const at = Date.parse(event.time);
    if (Date.now() - at > WINDOW_MS) return;
    this.commands.set(`${event.source}|${event.subject}|${event.time}`, at);
  }

  noteDeliveries(deliveries) {
    for (const delivery of deliveries) {
      for (const attempt of delivery.attempt_log || []) {
        const at = Date.parse(attempt.attempted_at);
        if (Date.now() - at > WINDOW_MS) continue;
        const ok = attempt.status_code !== null && attempt.status_code >= 200 && attempt.status_code < 300;
        this.attempts.set(`${delivery.id}|${attempt.attempted_at}`, { at, ok });
      }
    }
  }

  draw() {
    const now = Date.now();
    const start = now - WINDOW_MS;
    prune(this.commands, (at) => at < start);
    prune(this.attempts, (a) => a.at < start);
    const bucket = (at) => Math.min(BUCKETS - 1, Math.floor((at - start) / BUCKET_MS));
    const commands = new Array(BUCKETS).fill(0);
    for (const at of this.commands.values()) commands[bucket(at)] += 1;
    const ok = new Array(BUCKETS).fill(0);
    const failed = new Array(BUCKETS).fill(0);
    for (const attempt of this.attempts.values()) (attempt.ok ? ok : failed)[bucket(attempt.at)] += 1;
    const perSecond = commands.map((count) => count / (BUCKET_MS / 1000));
    this.commandsSvg.replaceChildren(lineChart(perSecond, "cmd-title"));
    this.deliveriesSvg.replaceChildren(barChart(ok, failed, "dlv-title"));
    this.summary.textContent = summarize(perSecond, ok, failed);
  }
}

function prune(map, old) {
  for (const [key, value] of map) if (old(value)) map.delete(key);
}

function summarize(perSecond, ok, failed) {
  const lastMinute = (values) => values.slice(-60000 / BUCKET_MS);
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const rate = sum(lastMinute(perSecond)) / lastMinute(perSecond).length;
  const peak = Math.max(...perSecond);
  return (
    `Last minute: ${rate.toFixed(rate < 1 ? 2 : 1)} commands/s on average (5-minute peak ${peak.toFixed(1)}); ` +
    `delivery attempts ${sum(lastMinute(ok))} succeeded, ${sum(lastMinute(failed))} failed.`
  );
}

function scale(values) {
  const top = Math.max(1, ...values);
  const nice = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  return nice.find((n) => n >= top) || top;
}

function frame(top, labelledBy, unit) {
  const plotH = HEIGHT - BOTTOM - 8;
  const y = (v) => 8 + plotH - (v / top) * plotH;
  const parts = [
    svg("line", { class: "grid", x1: LEFT, x2: WIDTH, y1: y(top), y2: y(top) }),
    svg("line", { class: "grid", x1: LEFT, x2: WIDTH, y1: y(top / 2), y2: y(top / 2) }),
    svg("line", { class: "axis", x1: LEFT, x2: WIDTH, y1: y(0), y2: y(0) }),
    svg("text", { x: LEFT - 6, y: y(top) + 4, "text-anchor": "end" }, String(top)),
    svg("text", { x: LEFT - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
    svg("text", { x: LEFT, y: HEIGHT - 4 }, "5 min ago"),
    svg("text", { x: (LEFT + WIDTH) / 2, y: HEIGHT - 4, "text-anchor": "middle" }, "2½ min"),
    svg("text", { x: WIDTH, y: HEIGHT - 4, "text-anchor": "end" }, `now (${unit})`),
  ];
  return { y, parts, attrs: { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": labelledBy } };
}

function lineChart(values, labelledBy) {
  const { y, parts, attrs } = frame(scale(values), labelledBy, "per second");
  const step = (WIDTH - LEFT) / BUCKETS;
  const points = values.map((v, i) => `${(LEFT + step * (i + 0.5)).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  return svg("svg", attrs, parts, svg("polyline", { class: "cmd-line", points }));
}

function barChart(ok, failed, labelledBy) {
  const totals = ok.map((v, i) => v + failed[i]);
  const { y, parts, attrs } = frame(scale(totals), labelledBy, "per 10 s");
  const step = (WIDTH - LEFT) / BUCKETS;
  const bars = [];
  ok.forEach((good, i) => {
    const x = LEFT + step * i + 1;
    const w = step - 2;
    if (good) bars.push(svg("rect", { class: "ok-bar", x, width: w, y: y(good), height: y(0) - y(good) }));
    if (failed[i]) {
      const top = y(good + failed[i]);
      bars.push(svg("rect", { class: "fail-bar", x, width: w, y: top, height: y(good) - top }));
    }
  });
  const hatch = svg(
    "defs",
    {},
    svg(
      "pattern",
      { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
      svg("rect", { width: 6, height: 6, fill: "#fde0de" }),
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#b3261e", "stroke-width": 3 }),
    ),
  );
  return svg("svg", attrs, hatch, parts, bars);
}
